//! Loading configuration: built-in defaults < the `--config` file <
//! `SWITCHBOARD_*` environment variables < command-line flags.
//!
//! Nested keys use a double underscore in the environment:
//! `SWITCHBOARD_BUS__BACKEND=kafka`, `SWITCHBOARD_STORE__URL=postgres://…`.
//! Variables starting with `SWITCHBOARD_TEST_` belong to the test suite,
//! `SWITCHBOARD_CONFIG` names the file and `SWITCHBOARD_ENCODER_PATH` where
//! triage models find their sentence encoders; none of them is a setting.

use std::path::Path;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use switchboard_core::config::Config;

/// Loads, merges and validates the configuration. `overrides` are
/// `(dotted.key, value)` pairs from command-line flags.
pub fn load(file: Option<&Path>, overrides: &[(&str, figment::value::Value)]) -> anyhow::Result<Config> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = file {
        anyhow::ensure!(path.is_file(), "configuration file {} does not exist", path.display());
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(
        Env::prefixed("SWITCHBOARD_")
            .filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                !key.starts_with("test_") && key != "config" && key != "encoder_path"
            })
            .split("__"),
    );
    for (key, value) in overrides {
        figment = figment.merge(Serialized::global(key, value.clone()));
    }
    let config: Config = figment.extract().context("invalid configuration")?;
    config.validate().context("invalid configuration")?;
    Ok(config)
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return figment's own error
mod tests {
    use super::*;

    #[test]
    fn files_environment_and_flags_layer_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "switchboard.toml",
                "listen = \"127.0.0.1:9000\"\n[bus]\npartitions = 8\n[runner]\nmax_attempts = 9\n",
            )?;
            jail.set_env("SWITCHBOARD_BUS__PARTITIONS", "12");
            jail.set_env("SWITCHBOARD_TEST_POSTGRES_URL", "ignored");
            jail.set_env("SWITCHBOARD_ENCODER_PATH", "/not/a/setting");
            let flags = [("data_dir", figment::value::Value::from("/tmp/flag"))];
            let config = load(Some(Path::new("switchboard.toml")), &flags).map_err(|e| e.to_string())?;
            assert_eq!(config.listen.port(), 9000);
            assert_eq!(config.bus.partitions, 12, "environment beats the file");
            assert_eq!(config.runner.max_attempts, 9);
            assert_eq!(config.data_dir, Path::new("/tmp/flag"));
            Ok(())
        });
    }

    #[test]
    fn imap_mailboxes_come_from_the_file_or_the_environment() {
        use switchboard_core::config::{ImapAfter, ImapTls};
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "imap.toml",
                "[[ingest.imap.mailboxes]]\ncompany = \"acme\"\nhost = \"imap.example.com\"\n\
                 username = \"support@acme.example\"\npassword = \"hunter2\"\nafter = \"move:Filed\"\n",
            )?;
            let config = load(Some(Path::new("imap.toml")), &[]).map_err(|e| format!("{e:#}"))?;
            let mailbox = &config.ingest.imap.mailboxes[0];
            assert_eq!((mailbox.port, mailbox.tls, mailbox.mailbox.as_str()), (993, ImapTls::Tls, "INBOX"));
            assert_eq!((mailbox.poll_seconds, mailbox.batch), (60, 50));
            assert_eq!(mailbox.after, ImapAfter::Move("Filed".into()));
            assert_eq!(mailbox.password.expose(), "hunter2");

            jail.set_env(
                "SWITCHBOARD_INGEST__IMAP__MAILBOXES",
                "[{company=\"acme\",host=\"127.0.0.1\",port=1143,tls=\"none\",username=\"u\",password=\"p\"}]",
            );
            let config = load(None, &[]).map_err(|e| format!("{e:#}"))?;
            let mailbox = &config.ingest.imap.mailboxes[0];
            assert_eq!((mailbox.host.as_str(), mailbox.port, mailbox.tls), ("127.0.0.1", 1143, ImapTls::None));

            jail.set_env(
                "SWITCHBOARD_INGEST__IMAP__MAILBOXES",
                "[{company=\"acme\",host=\"imap.example.com\",tls=\"none\",username=\"u\",password=\"p\"}]",
            );
            let error = format!("{:#}", load(None, &[]).expect_err("plain text to another host"));
            assert!(error.contains("127.0.0.1 or localhost"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("typo.toml", "[bus]\npartitons = 8\n")?;
            let error = load(Some(Path::new("typo.toml")), &[]).expect_err("unknown key");
            assert!(format!("{error:#}").contains("partitons"), "{error:#}");
            jail.create_file("zero.toml", "[bus]\npartitions = 0\n")?;
            assert!(load(Some(Path::new("zero.toml")), &[]).is_err());
            assert!(load(Some(Path::new("missing.toml")), &[]).is_err());
            Ok(())
        });
    }
}
