//! socketioxide-emitter's Redis driver, as its README writes it: PUBLISH on a multiplexed
//! connection (concurrent emits share one connection and are pipelined by redis-rs).

use std::sync::atomic::{AtomicUsize, Ordering};

use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;
use socketioxide_emitter::Driver;

pub struct RedisDriver {
    conn: MultiplexedConnection,
    /// Size of the last payload published, for the report.
    pub last_len: AtomicUsize,
}

impl RedisDriver {
    pub async fn connect(url: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        Ok(RedisDriver {
            conn: client.get_multiplexed_async_connection().await?,
            last_len: AtomicUsize::new(0),
        })
    }
}

impl Driver for RedisDriver {
    type Error = redis::RedisError;

    async fn emit(&self, channel: String, data: Vec<u8>) -> Result<(), Self::Error> {
        self.last_len.store(data.len(), Ordering::Relaxed);
        self.conn
            .clone()
            .publish::<_, _, redis::Value>(channel, data)
            .await?;
        Ok(())
    }
}
