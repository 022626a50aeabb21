use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Transition(#[from] crate::lifecycle::TransitionError),
}

/// An error and its causes on one line (`outer: inner: …`), for logs and
/// stored failure reasons; a cause whose text its parent already shows is
/// left out.
pub fn describe_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Wrapped(&'static str, #[source] Option<Box<Wrapped>>);

    #[test]
    fn the_chain_reads_outer_to_inner_without_repeats() {
        let inner = Wrapped("certificate verify failed", None);
        let middle = Wrapped("tls handshake", Some(Box::new(inner)));
        let outer = Wrapped("error sending request", Some(Box::new(middle)));
        assert_eq!(super::describe_chain(&outer), "error sending request: tls handshake: certificate verify failed");
        let repeated = Wrapped("timed out: deadline", Some(Box::new(Wrapped("deadline", None))));
        assert_eq!(super::describe_chain(&repeated), "timed out: deadline");
    }
}
