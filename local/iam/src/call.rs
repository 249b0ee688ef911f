//! One API call as the service that receives it describes it for authorization: the
//! operation, the resources of its action (by the resource type the Service Authorization
//! Reference names), the request context, and what the call makes AWS check besides: the
//! dependent actions the reference lists, each on its own resource, or the reason it does not
//! apply to this call. [`crate::Account::authorize`] checks the description against the
//! generated table before it evaluates anything, so a service that forgets a resource or a
//! dependent action fails loudly instead of allowing too much.

/// A dependent action of a call, on its resource (`*` when the action has no resource type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependent {
    pub action: String,
    pub resource: String,
    pub context: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Call {
    /// `<IAM service prefix>:<API operation>`, e.g. `imagebuilder:DistributeImage`.
    pub operation: String,
    /// The region the request was signed for (`aws:RequestedRegion`).
    pub region: String,
    /// `(resource type, ARN)` of the operation's action, e.g. `("image", "arn:aws:…")`.
    pub resources: Vec<(String, String)>,
    /// Context keys of the request (`ec2:CreateAction`, `aws:RequestTag/…`).
    pub context: Vec<(String, String)>,
    pub dependents: Vec<Dependent>,
    /// `(dependent action, why it is not checked for this call)`.
    pub not_applicable: Vec<(String, String)>,
    /// When the reference links several actions to the operation (S3 GetObject:
    /// `s3:GetObject` and `s3:GetObjectVersion`), the one this request is authorized as.
    pub action: Option<String>,
}

impl Call {
    pub fn new(operation: &str, region: &str) -> Self {
        Self {
            operation: operation.to_owned(),
            region: region.to_owned(),
            ..Self::default()
        }
    }

    /// This request is authorized as `action`, one of the operation's actions.
    pub fn as_action(mut self, action: &str) -> Self {
        self.action = Some(action.to_owned());
        self
    }

    /// The action acts on `arn`, a resource of type `kind`.
    pub fn on(mut self, kind: &str, arn: impl Into<String>) -> Self {
        self.resources.push((kind.to_owned(), arn.into()));
        self
    }

    pub fn context(mut self, key: &str, value: impl Into<String>) -> Self {
        self.context.push((key.to_owned(), value.into()));
        self
    }

    /// AWS also checks `action` on `resource` for this call.
    pub fn dependent(mut self, action: &str, resource: impl Into<String>) -> Self {
        self.dependents.push(Dependent {
            action: action.to_owned(),
            resource: resource.into(),
            context: Vec::new(),
        });
        self
    }

    /// [`Call::dependent`] with a context key (`iam:PassedToService` for `iam:PassRole`).
    pub fn dependent_with(
        mut self,
        action: &str,
        resource: impl Into<String>,
        key: &str,
        value: impl Into<String>,
    ) -> Self {
        self.dependents.push(Dependent {
            action: action.to_owned(),
            resource: resource.into(),
            context: vec![(key.to_owned(), value.into())],
        });
        self
    }

    /// The reference lists `action` as a dependent action, but it does not apply to this call.
    pub fn not_applicable(mut self, action: &str, why: &str) -> Self {
        self.not_applicable
            .push((action.to_owned(), why.to_owned()));
        self
    }
}
