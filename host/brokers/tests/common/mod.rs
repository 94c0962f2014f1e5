//! Helpers shared by the integration tests: real brokers, unique names, cleanup.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::time::Duration;

use lapin::message::BasicGetMessage;
use lapin::options::{BasicAckOptions, BasicGetOptions, ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const DEFAULT_KAFKA_BROKERS: &str = "127.0.0.1:9092";

pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| DEFAULT_AMQP_URL.to_string())
}

pub fn kafka_brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| DEFAULT_KAFKA_BROKERS.to_string())
}

/// `prefix` plus a random suffix, so parallel tests and earlier runs never collide.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Deletes the queues and exchanges a test declared when it ends, even when it panics.
#[derive(Default)]
pub struct Cleanup {
    pub queues: Vec<String>,
    pub exchanges: Vec<String>,
}

impl Cleanup {
    /// Registers `queue` with its DLQ and `retries` retry queues.
    pub fn consumed_queue(&mut self, queue: &str, retries: usize) {
        self.queues.push(queue.to_string());
        self.queues.push(sales_brokers::amqp::dlq_name(queue));
        for attempt in 1..=retries {
            self.queues
                .push(sales_brokers::amqp::retry_queue_name(queue, attempt));
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let queues = std::mem::take(&mut self.queues);
        let exchanges = std::mem::take(&mut self.exchanges);
        // Drop cannot await; a private runtime on its own thread does the deletes.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async move {
                let work = async {
                    let conn = Connection::connect(&amqp_url(), ConnectionProperties::default())
                        .await
                        .ok()?;
                    let channel = conn.create_channel().await.ok()?;
                    for queue in queues {
                        let _ = channel
                            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                            .await;
                    }
                    for exchange in exchanges {
                        let _ = channel
                            .exchange_delete(
                                exchange.as_str().into(),
                                ExchangeDeleteOptions::default(),
                            )
                            .await;
                    }
                    let _ = conn.close(200, "cleanup done".into()).await;
                    Some(())
                };
                let _ = tokio::time::timeout(Duration::from_secs(10), work).await;
            });
        })
        .join();
    }
}

/// Takes one message from `queue` with a raw lapin client (independent of the code under
/// test), polling until `within` has passed. The message is acked.
pub async fn get_one(queue: &str, within: Duration) -> Option<BasicGetMessage> {
    let conn = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("raw amqp connection");
    let channel = conn.create_channel().await.expect("raw channel");
    let deadline = tokio::time::Instant::now() + within;
    let found = loop {
        let message = channel
            .basic_get(queue.into(), BasicGetOptions::default())
            .await
            .expect("basic.get");
        if let Some(message) = message {
            message
                .delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .expect("ack");
            break Some(message);
        }
        if tokio::time::Instant::now() >= deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = conn.close(200, "done".into()).await;
    found
}

/// A TCP proxy in front of a real broker that a test can cut and restore, to exercise
/// reconnection without stopping the shared broker.
pub struct TcpProxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    server: Option<JoinHandle<()>>,
}

impl TcpProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let mut proxy = Self {
            addr: "127.0.0.1:0".parse().expect("address"),
            upstream,
            server: None,
        };
        proxy.listen().await;
        proxy
    }

    /// Closes the listener and every proxied connection.
    pub fn cut(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&mut self) {
        self.listen().await;
    }

    async fn listen(&mut self) {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuseaddr");
        socket.bind(self.addr).expect("bind proxy");
        let listener = socket.listen(64).expect("listen");
        self.addr = listener.local_addr().expect("local addr");
        let upstream = self.upstream;
        self.server = Some(tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every connection.
            let mut connections = JoinSet::new();
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                connections.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        }));
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}
