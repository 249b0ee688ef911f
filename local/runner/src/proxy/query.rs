//! The query-protocol reads (form-encoded `Action=…`) the proxy authorizes: the ones
//! `image-release doctor` makes of CloudFormation, IAM and SNS, which moto serves.

use super::xml_escape;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use iam::Call;

/// A query-protocol read (form-encoded `Action=…`, signed for `iam`, `sns` or
/// `cloudformation`): the call and its resource, as the Service Authorization Reference names
/// them. Only the reads `image-release doctor` makes; anything else is not authorized.
pub(super) fn describe_query(
    service: &str,
    body: &[u8],
    region: &str,
    account: &str,
    stack_id: &str,
) -> Option<Call> {
    let form: std::collections::BTreeMap<String, String> =
        form_urlencoded::parse(body).into_owned().collect();
    let action = form.get("Action")?;
    match (service, action.as_str()) {
        // IAM is global: its calls are signed for us-east-1.
        ("iam", "GetRole") => Some(Call::new("iam:GetRole", "us-east-1").on(
            "role",
            format!("arn:aws:iam::{account}:role/{}", form.get("RoleName")?),
        )),
        ("sns", "ListSubscriptionsByTopic") => Some(
            Call::new("sns:ListSubscriptionsByTopic", region)
                .on("topic", form.get("TopicArn")?.clone()),
        ),
        // A stack named by its name is authorized as its ARN (its id). The API reference
        // (DescribeStacks, StackName) requires ListStacks only of a call without a StackName.
        ("cloudformation", "DescribeStacks") => {
            let Some(named) = form.get("StackName") else {
                return Some(
                    Call::new("cloudformation:DescribeStacks", region)
                        .on(
                            "stack",
                            format!("arn:aws:cloudformation:{region}:{account}:stack/*/*"),
                        )
                        .dependent("cloudformation:ListStacks", "*"),
                );
            };
            let local_name = stack_id.split('/').nth(1).unwrap_or_default();
            let arn = if named == local_name || named == stack_id {
                stack_id.to_owned()
            } else if named.starts_with("arn:") {
                named.clone()
            } else {
                format!("arn:aws:cloudformation:{region}:{account}:stack/{named}/unknown")
            };
            Some(
                Call::new("cloudformation:DescribeStacks", region)
                    .on("stack", arn)
                    .not_applicable(
                        "cloudformation:ListStacks",
                        "a StackName is given (API reference, DescribeStacks: ListStacks only without one)",
                    ),
            )
        }
        _ => None,
    }
}

/// A denial in the query protocol's XML (IAM, SNS and CloudFormation answer alike).
pub(super) fn query_denied(message: &str) -> Response {
    let body = format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{}</Message></Error><RequestId>local</RequestId></ErrorResponse>",
        xml_escape(message)
    );
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/xml")],
        body,
    )
        .into_response()
}
