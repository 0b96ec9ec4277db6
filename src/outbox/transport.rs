//! Where department e-mail goes: an SMTP server (production), a directory of `.eml` files (local runs, where
//! no mail server is at hand), or a mailbox in memory (the test suite, which reads what was sent).

use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// One `<uuid>.eml` file per message.
    File(AsyncFileTransport<Tokio1Executor>),
    Memory(MemoryMailbox),
}

/// Messages "sent" to memory, in order.
#[derive(Clone, Default)]
pub struct MemoryMailbox(Arc<Mutex<Vec<SentMail>>>);

/// One message as it would have gone over the wire.
#[derive(Debug, Clone)]
pub struct SentMail {
    /// The envelope's recipients.
    pub to: Vec<String>,
    /// The message with its headers, CRLF line ends.
    pub raw: String,
}

impl MemoryMailbox {
    pub fn messages(&self) -> Vec<SentMail> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Why a message was not sent, and whether trying again can help.
pub struct SendFailure {
    pub permanent: bool,
    pub error: String,
}

impl Mailer {
    /// An SMTP server by URL: `smtp://host:25` (plain), `smtp://host:587?tls=required` (STARTTLS),
    /// `smtps://user:pass@host:465` (TLS), with credentials in the URL.
    pub fn smtp(url: &str, timeout: Duration) -> Result<Self, String> {
        Ok(Mailer::Smtp(
            AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map_err(|e| format!("CIVIC311_SMTP_URL is not usable: {e}"))?
                .timeout(Some(timeout))
                .build(),
        ))
    }

    /// A directory that receives every message as a file; it is created when missing.
    pub fn directory(dir: PathBuf) -> Result<Self, String> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("CIVIC311_MAIL_DIR {}: {e}", dir.display()))?;
        Ok(Mailer::File(AsyncFileTransport::<Tokio1Executor>::new(dir)))
    }

    pub fn memory(mailbox: MemoryMailbox) -> Self {
        Mailer::Memory(mailbox)
    }

    /// The name of the transport in messages about failures.
    pub fn kind(&self) -> &'static str {
        match self {
            Mailer::Smtp(_) => "the SMTP server",
            Mailer::File(_) => "the mail directory",
            Mailer::Memory(_) => "the in-memory mailbox",
        }
    }

    pub async fn send(&self, message: Message) -> Result<(), SendFailure> {
        match self {
            Mailer::Smtp(t) => t.send(message).await.map(|_| ()).map_err(|e| SendFailure {
                permanent: e.is_permanent(),
                error: e.to_string(),
            }),
            // A full disk or a missing permission may be mended: retry.
            Mailer::File(t) => t.send(message).await.map(|_| ()).map_err(|e| SendFailure {
                permanent: false,
                error: e.to_string(),
            }),
            Mailer::Memory(m) => {
                let to = message
                    .envelope()
                    .to()
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                let raw = String::from_utf8_lossy(&message.formatted()).into_owned();
                m.0.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(SentMail { to, raw });
                Ok(())
            }
        }
    }
}
