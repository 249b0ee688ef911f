//! The local stack's IAM, in one place: AWS's policy evaluation logic ([`evaluate`]), the
//! operation → action table generated from the Service Authorization Reference ([`table`],
//! `data/actions.json`, drift-checked by `scripts/iam-actions.py --check`), and the principals of
//! the local account: each function's execution role as SAM resolves `template.yaml`
//! ([`account`]). The emulator and the runner's authorizing proxy ask [`Account::authorize`] on
//! every call; the functions never know it exists.
//!
//! What is evaluated (IAM User Guide, "Policy evaluation logic"): within one account, a request
//! is allowed when an identity-based or a resource-based policy allows it and no policy denies
//! it explicitly; an explicit deny always wins; anything not allowed is denied implicitly.
//! Actions match case-insensitively and resources case-sensitively, with `*` and `?` wildcards;
//! `NotAction` and `NotResource` are honoured; conditions support the operators listed in
//! [`policy::Operator`] (with `IfExists` and the `ForAnyValue:`/`ForAllValues:` qualifiers).

pub mod account;
pub mod call;
pub mod evaluate;
pub mod policy;
pub mod table;

pub use account::{Account, Denied, Principal};
pub use call::Call;
pub use evaluate::{Decision, Request};
pub use policy::Policy;
pub use table::Table;
