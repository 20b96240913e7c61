//! `spin:key-value/key-value@3.0.0` over kv.db (table `kv(store, key, value)`), kept apart from
//! vinr.db so key-value traffic never contends with the API's write transactions.

use rusqlite::OptionalExtension;
use wasmtime::component::{Accessor, FutureReader, HasSelf, Resource, StreamReader};

use crate::db::with_busy_retry;
use crate::spin_bindings::kv::{self, Error};
use crate::state::HostState;

pub struct KvStore {
    label: String,
}

const DEFAULT_STORE: &str = "default";

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

fn kv_error(e: rusqlite::Error) -> Error {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(msg)) => Error::Other(msg),
        e => other(e),
    }
}

/// Runs `f` on a pooled kv.db connection for the store behind `s`.
fn with_store<R>(
    state: &mut HostState,
    s: &Resource<KvStore>,
    f: impl Fn(&rusqlite::Connection, &str) -> rusqlite::Result<R>,
) -> wasmtime::Result<Result<R, Error>> {
    let label = state.table.get(s)?.label.clone();
    let conn = match state.spin.kv.checkout() {
        Ok(c) => c,
        Err(e) => return Ok(Err(other(format!("{e:#}")))),
    };
    Ok(with_busy_retry(&conn, |c| f(c, &label)).map_err(kv_error))
}

impl kv::Host for HostState {}

impl kv::HostStore for HostState {
    fn drop(&mut self, s: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(s)?;
        Ok(())
    }
}

impl<T> kv::HostStoreWithStore<T> for HasSelf<HostState> {
    async fn open(accessor: &Accessor<T, Self>, label: String) -> wasmtime::Result<Result<Resource<KvStore>, Error>> {
        accessor.with(|mut a| {
            let state = a.get();
            if !state.spin.grants.key_value_stores.iter().any(|l| *l == label) {
                return Ok(Err(Error::AccessDenied));
            }
            if label != DEFAULT_STORE {
                return Ok(Err(Error::NoSuchStore));
            }
            Ok(Ok(state.table.push(KvStore { label })?))
        })
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        s: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        accessor.with(|mut a| {
            with_store(a.get(), &s, |c, store| {
                c.prepare_cached("SELECT value FROM kv WHERE store = ?1 AND key = ?2")?
                    .query_row((store, &key), |r| r.get(0))
                    .optional()
            })
        })
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        s: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        accessor.with(|mut a| {
            with_store(a.get(), &s, |c, store| {
                c.prepare_cached(
                    "INSERT INTO kv (store, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                )?
                .execute((store, &key, &value))
                .map(|_| ())
            })
        })
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        s: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        accessor.with(|mut a| {
            with_store(a.get(), &s, |c, store| {
                c.prepare_cached("DELETE FROM kv WHERE store = ?1 AND key = ?2")?
                    .execute((store, &key))
                    .map(|_| ())
            })
        })
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        s: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        accessor.with(|mut a| {
            with_store(a.get(), &s, |c, store| {
                c.prepare_cached("SELECT EXISTS(SELECT 1 FROM kv WHERE store = ?1 AND key = ?2)")?
                    .query_row((store, &key), |r| r.get(0))
            })
        })
    }

    async fn get_keys(
        accessor: &Accessor<T, Self>,
        s: Resource<KvStore>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), Error>>)> {
        accessor.with(|mut a| {
            let keys = with_store(a.get(), &s, |c, store| {
                c.prepare_cached("SELECT key FROM kv WHERE store = ?1 ORDER BY key")?
                    .query_map([store], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            })?;
            // The keys are read up front; an error is reported through the future after an
            // empty stream, as the interface prescribes.
            let (keys, result) = match keys {
                Ok(k) => (k, Ok(())),
                Err(e) => (Vec::new(), Err(e)),
            };
            let stream = StreamReader::new(&mut a, keys)?;
            let done = FutureReader::new(&mut a, std::future::ready(Ok::<_, wasmtime::Error>(result)))?;
            Ok((stream, done))
        })
    }
}
