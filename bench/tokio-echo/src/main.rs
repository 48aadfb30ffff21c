//! Baseline for `bench/run.sh`: the canonical tokio echo server (multi-thread runtime, one task
//! per connection, 1 KiB buffer, read then `write_all`), answering in ASCII uppercase.
//! `TCP_NODELAY` is set, as shoutd does, so neither side waits on Nagle's algorithm.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9998".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("tokio-echo listening on {}", listener.local_addr()?);
    loop {
        let (mut socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            loop {
                let n = match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf[..n].make_ascii_uppercase();
                if socket.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        });
    }
}
