//! Error classes shared by the subsystems, mapped to HTTP status codes by the
//! API layer only (moby's errdefs idea): a subsystem says *what* went wrong,
//! never which status code that is.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    InvalidParameter,
    NotFound,
    Conflict,
    Unauthorized,
    NotImplemented,
    /// Refused by policy (removing a built-in network): 403.
    Forbidden,
    /// Nothing to do (starting a running container): 304.
    NotModified,
    System,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(m: impl Into<String>) -> Self {
        Self::new(Kind::InvalidParameter, m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, m)
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(Kind::Conflict, m)
    }
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(Kind::Unauthorized, m)
    }
    pub fn not_implemented(m: impl Into<String>) -> Self {
        Self::new(Kind::NotImplemented, m)
    }
    pub fn system(m: impl Into<String>) -> Self {
        Self::new(Kind::System, m)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::system(e.to_string())
    }
}
