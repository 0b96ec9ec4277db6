//! A real SMTP server on loopback for the delivery tests. It can accept, answer 451 or 550 per recipient, be
//! slow, stall (never answer), or not listen at all (connection refused), and it records what it received.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Behaviour {
    Accept,
    /// 451 at RCPT TO: try again later.
    TempFail,
    /// 550 at RCPT TO: no such mailbox.
    PermFail,
    /// Never answers RCPT TO.
    Stall,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub recipients: Vec<String>,
    pub data: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        // Unfold continuation lines first.
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The body with quoted-printable soft line breaks and escapes undone, as a mail reader shows it.
    pub fn body(&self) -> String {
        let body = self
            .data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or("");
        if self
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"))
        {
            let joined = body.replace("=\r\n", "");
            let bytes = joined.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'=' && i + 2 < bytes.len() {
                    if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                }
                out.push(bytes[i]);
                i += 1;
            }
            String::from_utf8_lossy(&out).replace("\r\n", "\n")
        } else if self
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("base64"))
        {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            String::from_utf8_lossy(&base64_decode(&compact)).replace("\r\n", "\n")
        } else {
            body.replace("\r\n", "\n")
        }
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let Some(v) = val(c) else { continue };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[derive(Default)]
struct State {
    /// Behaviours queued per recipient; when a queue is empty the server accepts.
    per_recipient: HashMap<String, VecDeque<Behaviour>>,
    received: Vec<Received>,
    connections: usize,
    /// Delay before answering the end of DATA (a slow server).
    data_delay: Duration,
}

pub struct SmtpServer {
    pub port: u16,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpServer {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    pub async fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                st.lock().unwrap().connections += 1;
                tokio::spawn(session(socket, st.clone()));
            }
        });
        Self { port, state, task }
    }

    /// A port where nothing listens: connections are refused.
    pub async fn refusing_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn script(&self, recipient: &str, behaviours: &[Behaviour]) {
        self.state
            .lock()
            .unwrap()
            .per_recipient
            .insert(recipient.to_string(), behaviours.iter().copied().collect());
    }

    pub fn set_data_delay(&self, d: Duration) {
        self.state.lock().unwrap().data_delay = d;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(socket: tokio::net::TcpStream, state: Arc<Mutex<State>>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    let mut rcpts: Vec<String> = Vec::new();
    if write
        .write_all(b"220 civic311-test ESMTP\r\n")
        .await
        .is_err()
    {
        return;
    }
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            "250-civic311-test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 OK\r\n".into()
        } else if upper.starts_with("MAIL FROM") {
            rcpts.clear();
            "250 OK\r\n".into()
        } else if upper.starts_with("RCPT TO") {
            let addr = cmd
                .split_once(':')
                .map(|(_, a)| {
                    a.trim()
                        .trim_start_matches('<')
                        .split('>')
                        .next()
                        .unwrap_or("")
                        .to_string()
                })
                .unwrap_or_default();
            let behaviour = {
                let mut s = state.lock().unwrap();
                s.per_recipient
                    .get_mut(&addr)
                    .and_then(|q| q.pop_front())
                    .unwrap_or(Behaviour::Accept)
            };
            match behaviour {
                Behaviour::Accept => {
                    rcpts.push(addr);
                    "250 OK\r\n".into()
                }
                Behaviour::TempFail => "451 4.3.0 Mailbox busy, try again later\r\n".into(),
                Behaviour::PermFail => "550 5.1.1 No such user here\r\n".into(),
                Behaviour::Stall => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
            }
        } else if upper == "DATA" {
            if write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await
                .is_err()
            {
                return;
            }
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if lines.read_line(&mut l).await.unwrap_or(0) == 0 {
                    return;
                }
                if l == ".\r\n" || l == ".\n" {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
            }
            let delay = state.lock().unwrap().data_delay;
            tokio::time::sleep(delay).await;
            state.lock().unwrap().received.push(Received {
                recipients: rcpts.clone(),
                data,
            });
            "250 OK queued\r\n".into()
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 Bye\r\n").await;
            return;
        } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
            "250 OK\r\n".into()
        } else {
            "502 Command not implemented\r\n".into()
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
