//! Pooling Postgres clients.

use super::{Client, Config, Error};
use crate::pool::Manager;

/// Opens [`Client`]s for a [`Pool`](crate::pool::Pool): checks an idle one
/// with an empty query, and discards one whose connection closed.
// tokio-postgres' `Config` redacts the password in its `Debug`.
#[derive(Debug)]
pub struct PostgresManager {
    config: Result<Config, String>,
}

impl PostgresManager {
    /// A manager for a connection string (as [`Client::connect`]). A
    /// malformed string is reported by each connection attempt, so a
    /// worker's state can be built without a fallible step.
    pub fn new(params: &str) -> PostgresManager {
        PostgresManager { config: params.parse::<Config>().map_err(|e| Error::from(e).to_string()) }
    }

    /// A manager for a parsed [`Config`].
    pub fn from_config(config: Config) -> PostgresManager {
        PostgresManager { config: Ok(config) }
    }
}

impl Manager for PostgresManager {
    type Connection = Client;
    type Error = Error;

    fn connect(&self) -> Result<Client, Error> {
        match &self.config {
            Ok(c) => Client::connect_config(c),
            Err(e) => Err(Error::from(std::io::Error::new(std::io::ErrorKind::InvalidInput, e.clone()))
                .context("invalid Postgres connection string")),
        }
    }

    fn check(&self, conn: &mut Client) -> Result<(), Error> {
        conn.simple_query("").map(|_| ())
    }

    fn is_broken(&self, conn: &mut Client) -> bool {
        conn.is_closed()
    }
}
