//! Why a URL, site or container was refused; maps onto the protocol's error codes.

/// How much of a refused input an error message repeats; a 1 MiB URL must not make a 1 MiB
/// error reply.
const MAX_ECHOED_INPUT: usize = 120;

/// An input the isolator refuses. `code()` gives the protocol error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsolationError {
    /// A `url` that cannot be parsed or has no usable host.
    #[error("not a valid URL: {input:?} ({problem})")]
    InvalidUrl {
        /// The refused input, shortened to a readable length.
        input: String,
        /// What is wrong with it.
        problem: UrlProblem,
    },
    /// A `container` that is not a Firefox cookie store id.
    #[error(
        "not a Firefox cookie store id: {input:?} (expected firefox-default, firefox-private or firefox-container-N)"
    )]
    InvalidContainer {
        /// The refused input, shortened to a readable length.
        input: String,
    },
    /// A `site` field that is not a host name, an IP address or `--unknown--`.
    #[error("not a site: {input:?} ({problem})")]
    InvalidSite {
        /// The refused input, shortened to a readable length.
        input: String,
        /// What is wrong with it.
        problem: UrlProblem,
    },
}

impl IsolationError {
    /// The protocol error code (`docs/protocol.md` §2.3).
    pub fn code(&self) -> persite_protocol::ErrorCode {
        use persite_protocol::ErrorCode;
        match self {
            IsolationError::InvalidUrl { .. } => ErrorCode::InvalidUrl,
            IsolationError::InvalidContainer { .. } => ErrorCode::InvalidContainer,
            IsolationError::InvalidSite { .. } => ErrorCode::InvalidField,
        }
    }

    pub(crate) fn invalid_url(input: &str, problem: UrlProblem) -> Self {
        IsolationError::InvalidUrl {
            input: echo(input),
            problem,
        }
    }

    pub(crate) fn invalid_container(input: &str) -> Self {
        IsolationError::InvalidContainer { input: echo(input) }
    }

    pub(crate) fn invalid_site(input: &str, problem: UrlProblem) -> Self {
        IsolationError::InvalidSite {
            input: echo(input),
            problem,
        }
    }
}

/// What is wrong with a URL or host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlProblem {
    /// Longer than any URL Firefox accepts.
    #[error("longer than {max} bytes", max = crate::isolation::site::MAX_URL_LEN)]
    TooLong,
    /// Empty or only whitespace.
    #[error("empty")]
    Empty,
    /// A control character (NUL, tab, newline, …) in the scheme, user info or host.
    #[error("control character in the scheme or host")]
    ControlCharacter,
    /// The part before the path is longer than any real host with user info and port.
    #[error("user info, host and port longer than {max} bytes", max = crate::isolation::site::MAX_AUTHORITY_LEN)]
    AuthorityTooLong,
    /// The `url` crate refused it.
    #[error("{0}")]
    Parse(url::ParseError),
    /// A URL without a host.
    #[error("no host")]
    NoHost,
    /// A host longer than DNS allows.
    #[error("host longer than {max} bytes", max = crate::isolation::site::MAX_HOST_LEN)]
    HostTooLong,
    /// A host with an empty label (`.example.com`, `a..b`).
    #[error("empty label in the host")]
    EmptyLabel,
    /// A host label longer than DNS allows.
    #[error("host label longer than {max} bytes", max = crate::isolation::site::MAX_LABEL_LEN)]
    LabelTooLong,
    /// The host `--unknown--`, which is reserved for the catch-all site.
    #[error("the host name --unknown-- is reserved for the catch-all site")]
    ReservedName,
    /// A `site` field holding something other than a host (a path, port, user info, scheme).
    #[error("a site is a host name, an IP address or --unknown--")]
    NotAHost,
}

/// Shortens `input` for an error message, at a character boundary.
fn echo(input: &str) -> String {
    if input.len() <= MAX_ECHOED_INPUT {
        return input.to_owned();
    }
    let mut end = MAX_ECHOED_INPUT;
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &input[..end], input.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_inputs_are_shortened_in_messages() {
        let long = "é".repeat(1000);
        let error = IsolationError::invalid_url(&long, UrlProblem::TooLong);
        let message = error.to_string();
        assert!(message.len() < 300, "{message}");
        assert!(message.contains("(2000 bytes)"));
        assert_eq!(error.code(), "invalid_url");
    }
}
