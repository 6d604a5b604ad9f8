//! Parsed, validated request values ("parse, don't validate"): once a value of these
//! types exists it satisfies the rules, so handlers and storage never re-check them.

mod email;
mod password;
mod workspace;

pub use email::Email;
pub use password::Password;
pub use workspace::{parse_role, InstanceName};
