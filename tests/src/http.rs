//! A small HTTP/1.1 client for the metrics endpoint: a request sent verbatim, its answer
//! checked (status line, `Content-Length`) and read until the server closes, and a scrape read
//! by exact series.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};

use crate::net::{connect, read_to_end};

/// An HTTP response: status code, head (status line and headers) and body.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The status line and headers.
    pub head: String,
    /// The body.
    pub body: String,
}

/// Sends `raw` verbatim to `addr` and reads the answer until the server closes. Checks that
/// the answer is HTTP/1.1 and that its `Content-Length` matches the body.
pub fn request(addr: SocketAddr, raw: &str) -> Response {
    let mut stream = connect(addr);
    stream.write_all(raw.as_bytes()).expect("send request");
    response(&mut stream)
}

/// Reads an HTTP response on `stream` until the server closes, checked as [`request`] does.
pub fn response(stream: &mut TcpStream) -> Response {
    let raw = String::from_utf8(read_to_end(stream)).expect("UTF-8 response");
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in response: {raw:?}"));
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {status_line:?}"));
    let length: usize = header(head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Content-Length in {head:?}"));
    assert_eq!(length, body.len(), "Content-Length does not match the body");
    Response {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// The value of header `name` (case-insensitive) in `head`.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

/// `GET` of `path` on `addr`.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: shout\r\nConnection: close\r\n\r\n"),
    )
}

/// A scrape: the metrics text, read by exact series (name and labels).
pub struct Metrics(pub String);

impl Metrics {
    /// The value of the series written exactly as `series` (`name` or `name{labels}`).
    pub fn raw(&self, series: &str) -> &str {
        self.0
            .lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                (name == series).then_some(value)
            })
            .unwrap_or_else(|| panic!("no series {series} in the scrape:\n{}", self.0))
    }

    /// A counter's value.
    pub fn counter(&self, series: &str) -> u64 {
        let v = self.raw(series);
        v.parse()
            .unwrap_or_else(|_| panic!("{series} is not a counter value: {v:?}"))
    }

    /// A gauge's value.
    pub fn gauge(&self, series: &str) -> i64 {
        let v = self.raw(series);
        v.parse()
            .unwrap_or_else(|_| panic!("{series} is not a gauge value: {v:?}"))
    }
}

/// Scrapes `addr`, checking the status, the content type and the final `# EOF`.
pub fn scrape(addr: SocketAddr) -> Metrics {
    let response = get(addr, "/metrics");
    assert_eq!(response.status, 200, "scrape failed: {}", response.body);
    let content_type = header(&response.head, "content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "unexpected content type {content_type:?}"
    );
    assert!(
        response.body.ends_with("# EOF\n"),
        "the scrape does not end with # EOF:\n{}",
        response.body
    );
    Metrics(response.body)
}
