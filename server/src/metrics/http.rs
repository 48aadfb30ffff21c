//! The little HTTP/1.x the metrics endpoint speaks, apart from its sockets: reading a request
//! head as bytes arrive (bounded), what the request line asks for, and the whole answer to it.
//! Each connection gets one answer and is closed, so there is no keep-alive and no body to read.

use std::io::{self, Read, Write};

use prometheus_client::registry::Registry;

/// The largest request head accepted (`431` beyond).
pub(super) const MAX_HEAD: usize = 8 * 1024;

/// Bytes taken per read of a request head (a whole head is one or a few packets).
const HEAD_READ: usize = 1024;

/// What a request head asks for, as far as this endpoint cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Request {
    /// `GET /metrics` (any query string; the target in origin or absolute form); `head_only`
    /// for `HEAD`.
    Metrics { head_only: bool },
    /// `GET` or `HEAD` of another path.
    NotFound { head_only: bool },
    /// Another method.
    MethodNotAllowed,
    /// Not an HTTP/1.x request line.
    Bad,
    /// No end of head within [`MAX_HEAD`].
    TooLarge,
}

/// Reads what has arrived into `head`: `Some` once the head is complete, too large, or ended
/// by the peer; `None` while more may come; an error if the peer left without a request.
pub(super) fn read_head<R: Read + ?Sized>(
    stream: &mut R,
    head: &mut Vec<u8>,
) -> io::Result<Option<Request>> {
    let mut chunk = [0u8; HEAD_READ];
    loop {
        let room = MAX_HEAD.saturating_sub(head.len()).min(chunk.len());
        if room == 0 {
            return Ok(Some(Request::TooLarge));
        }
        match stream.read(&mut chunk[..room]) {
            Ok(0) if head.is_empty() => {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            // Half-closed after part of a head: answer what the request line says.
            Ok(0) => return Ok(Some(parse(head))),
            Ok(n) => {
                // Only the new bytes (and 3 before them) can complete the blank line.
                let from = head.len().saturating_sub(3);
                head.extend_from_slice(&chunk[..n]);
                if ends_head(&head[from..]) {
                    return Ok(Some(parse(head)));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Whether `bytes` hold the blank line that ends a head (`\r\n\r\n`, or bare `\n\n`).
fn ends_head(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| w == b"\r\n\r\n") || bytes.windows(2).any(|w| w == b"\n\n")
}

/// Reads the request line of `head`.
fn parse(head: &[u8]) -> Request {
    let Some(end) = head.iter().position(|&b| b == b'\n') else {
        return Request::Bad;
    };
    let line = head[..end].strip_suffix(b"\r").unwrap_or(&head[..end]);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Request::Bad;
    };
    if !version.starts_with(b"HTTP/1.") {
        return Request::Bad;
    }
    let head_only = match method {
        b"GET" => false,
        b"HEAD" => true,
        _ => return Request::MethodNotAllowed,
    };
    let path = origin_form(target)
        .split(|&b| b == b'?')
        .next()
        .unwrap_or_default();
    if path == b"/metrics" {
        Request::Metrics { head_only }
    } else {
        Request::NotFound { head_only }
    }
}

/// The path and query of a request target: the target itself (origin form, `/metrics`), or
/// what follows the authority of the absolute form (`http://host:9100/metrics`), which
/// RFC 9112 (3.2.2) requires a server to accept; `/` if the absolute form has no path.
fn origin_form(target: &[u8]) -> &[u8] {
    let lower = target.to_ascii_lowercase();
    let scheme = [&b"http://"[..], b"https://"]
        .into_iter()
        .find(|scheme| lower.starts_with(scheme));
    let Some(scheme) = scheme else {
        return target;
    };
    let rest = &target[scheme.len()..];
    match rest.iter().position(|&b| b == b'/' || b == b'?') {
        Some(at) if rest[at] == b'/' => &rest[at..],
        _ => b"/",
    }
}

/// The whole HTTP answer to `request`.
pub(super) fn answer(request: Request, registry: &Registry) -> Vec<u8> {
    let text = "text/plain; charset=utf-8";
    match request {
        Request::Metrics { head_only } => {
            let mut body = String::new();
            match prometheus_client::encoding::text::encode(&mut body, registry) {
                Ok(()) => response(
                    "200 OK",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    "",
                    &body,
                    head_only,
                ),
                Err(_) => response(
                    "500 Internal Server Error",
                    text,
                    "",
                    "encoding failed\n",
                    head_only,
                ),
            }
        }
        Request::NotFound { head_only } => response(
            "404 Not Found",
            text,
            "",
            "metrics are at /metrics\n",
            head_only,
        ),
        Request::MethodNotAllowed => response(
            "405 Method Not Allowed",
            text,
            "Allow: GET, HEAD\r\n",
            "only GET and HEAD\n",
            false,
        ),
        Request::Bad => response(
            "400 Bad Request",
            text,
            "",
            "not an HTTP/1 request\n",
            false,
        ),
        Request::TooLarge => response(
            "431 Request Header Fields Too Large",
            text,
            "",
            &format!("request head over {} KiB\n", MAX_HEAD / 1024),
            false,
        ),
    }
}

/// The answer given to the excess when every slot is taken.
pub(super) fn busy() -> Vec<u8> {
    response(
        "503 Service Unavailable",
        "text/plain; charset=utf-8",
        "Retry-After: 1\r\n",
        "too many metrics requests at once\n",
        false,
    )
}

/// An HTTP/1.1 response that closes the connection; `extra` holds whole header lines.
fn response(status: &str, content_type: &str, extra: &str, body: &str, head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        out.push_str(body);
    }
    out.into_bytes()
}

/// Writes as much of `bytes[*sent..]` as the socket takes; true once all of it is sent.
pub(super) fn write_some<W: Write + ?Sized>(
    stream: &mut W,
    bytes: &[u8],
    sent: &mut usize,
) -> io::Result<bool> {
    while *sent < bytes.len() {
        match stream.write(&bytes[*sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request line decides the answer; the query string is ignored.
    #[test]
    fn parses_request_lines() {
        let metrics = Request::Metrics { head_only: false };
        assert_eq!(parse(b"GET /metrics HTTP/1.1\r\n\r\n"), metrics);
        assert_eq!(parse(b"GET /metrics?x=1&y HTTP/1.1\r\n\r\n"), metrics);
        assert_eq!(parse(b"GET /metrics HTTP/1.0\n\n"), metrics);
        assert_eq!(
            parse(b"HEAD /metrics HTTP/1.1\r\n\r\n"),
            Request::Metrics { head_only: true }
        );
        assert_eq!(
            parse(b"GET /metricsx HTTP/1.1\r\n\r\n"),
            Request::NotFound { head_only: false }
        );
        assert_eq!(
            parse(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Request::MethodNotAllowed
        );
        assert_eq!(parse(b"GET /metrics\r\n\r\n"), Request::Bad);
        assert_eq!(parse(b"GET /metrics SPDY/3\r\n\r\n"), Request::Bad);
        assert_eq!(parse(b"GET /metr"), Request::Bad);
    }

    /// The absolute form of a target (RFC 9112, 3.2.2), as a proxy or some clients send it,
    /// names the same path.
    #[test]
    fn absolute_form_targets() {
        let metrics = Request::Metrics { head_only: false };
        let not_found = Request::NotFound { head_only: false };
        assert_eq!(parse(b"GET http://host/metrics HTTP/1.1\r\n\r\n"), metrics);
        assert_eq!(
            parse(b"GET HTTP://h:9100/metrics?x HTTP/1.1\r\n\r\n"),
            metrics
        );
        assert_eq!(
            parse(b"GET https://[::1]:9/metrics HTTP/1.1\r\n\r\n"),
            metrics
        );
        assert_eq!(parse(b"GET http://host HTTP/1.1\r\n\r\n"), not_found);
        assert_eq!(
            parse(b"GET http://host?/metrics HTTP/1.1\r\n\r\n"),
            not_found
        );
        assert_eq!(parse(b"GET http://host/other HTTP/1.1\r\n\r\n"), not_found);
        assert_eq!(parse(b"GET ftp://host/metrics HTTP/1.1\r\n\r\n"), not_found);
    }

    /// The end of a head is found however the bytes were split.
    #[test]
    fn finds_the_end_of_a_head() {
        assert!(ends_head(b"x\r\n\r\n"));
        assert!(ends_head(b"\n\n"));
        assert!(!ends_head(b"GET / HTTP/1.1\r\nHost: a\r\n"));
    }

    /// `HEAD` gets the headers of `GET` and no body; every answer closes the connection.
    #[test]
    fn answers_head_without_body() {
        let with = String::from_utf8(response("200 OK", "t", "", "body", false)).unwrap();
        let without = String::from_utf8(response("200 OK", "t", "", "body", true)).unwrap();
        assert_eq!(with, format!("{without}body"));
        assert!(without.contains("Content-Length: 4\r\n"));
        assert!(without.contains("Connection: close\r\n"));
        assert!(String::from_utf8(busy())
            .unwrap()
            .starts_with("HTTP/1.1 503 "));
    }
}
