//! A TCP connection that sends exactly the bytes a test writes, for the clients an HTTP library
//! will not play: a body that stops halfway, a chunked body without its last chunk, headers that
//! never end.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// One client connection to a server on 127.0.0.1.
#[derive(Debug)]
pub struct RawConnection {
    stream: TcpStream,
    opened: Instant,
}

/// What the server sent before it closed the connection.
#[derive(Debug)]
pub struct RawAnswer {
    /// The status code of the first status line.
    pub status: u16,
    /// The status line and headers, as sent.
    pub head: String,
    /// Everything after the headers.
    pub body: String,
    /// From the connection's opening to the server's close.
    pub elapsed: Duration,
}

impl RawConnection {
    /// Connects to `base` (`http://127.0.0.1:<port>`).
    pub async fn open(base: &str) -> Self {
        let addr = base.trim_start_matches("http://").trim_end_matches('/');
        let stream = TcpStream::connect(addr).await.expect("connect");
        Self {
            stream,
            opened: Instant::now(),
        }
    }

    /// Sends `bytes`, in one write.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("send");
    }

    /// Sends one space `every` so long, until the server starts answering (then returns `true`)
    /// or `at_most` has passed (`false`): a client trickling its body so slowly that the
    /// connection is never idle long.
    pub async fn trickle_until_answered(&mut self, every: Duration, at_most: Duration) -> bool {
        let mut byte = [0_u8; 1];
        while self.opened.elapsed() < at_most {
            if let Ok(peeked) = tokio::time::timeout(every, self.stream.peek(&mut byte)).await {
                return peeked.is_ok_and(|n| n > 0);
            }
            self.send(b" ").await;
        }
        false
    }

    /// Reads until the server closes the connection, which it must do within `within` of now;
    /// panics otherwise (the server holds the connection).
    pub async fn answer_then_close(mut self, within: Duration) -> RawAnswer {
        let mut received = Vec::new();
        match tokio::time::timeout(within, self.stream.read_to_end(&mut received)).await {
            Ok(Ok(_)) => {}
            // A reset after the answer is a close too (the server had unread bytes).
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
            Ok(Err(error)) => panic!("reading the answer: {error}"),
            Err(_) => panic!(
                "the server still holds the connection after {within:?}; so far it sent {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
        let elapsed = self.opened.elapsed();
        let text = String::from_utf8_lossy(&received).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        RawAnswer {
            status,
            head: head.to_owned(),
            body: body.to_owned(),
            elapsed,
        }
    }
}

impl RawAnswer {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The body as JSON; panics if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("a JSON body, got {:?} after {:?}", self.body, self.head))
    }
}
