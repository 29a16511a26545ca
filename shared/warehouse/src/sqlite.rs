//! SQLite: the model read on a thread of its own with rusqlite, its rows handed
//! over in blocks.
//!
//! Why not sqlx, as the other databases: sqlx runs SQLite on a worker thread and
//! hands every row to the caller through a channel, duplicating each value
//! (`sqlite3_value_dup`) and waking the other thread every few rows. Profiled
//! (benchmarks/extract-profile.md), that hand-off was most of a dry run's time.
//! Here one blocking thread steps the statement and decodes each row straight
//! from SQLite's memory into backflow values, and sends them [`BLOCK_ROWS`] at a
//! time through a channel of [`BLOCKS_IN_FLIGHT`]: memory stays a few blocks
//! whatever the table's size, and the threads meet once per block.
//!
//! SQLite is dynamically typed: a column declared `DATE` may hold text in one row
//! and an integer in the next, and an expression has no declared type at all. So
//! each cell is decoded by its own storage class, and the declared type only sets
//! the column's kind (see `kind::sqlite_declared_kind`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use backflow_core::value::{Column, Value};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, InterruptHandle, OpenFlags};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::kind::sqlite_declared_kind;
use crate::redact::Redactor;
use crate::{column, decode_error, Error};

/// Rows per block handed from the reading thread to the run.
const BLOCK_ROWS: usize = 512;
/// Blocks read ahead of the run; the reader waits when they are all unread.
const BLOCKS_IN_FLIGHT: usize = 2;
/// How long a read waits for a writer's lock on the file (sqlx's default too).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// More readers than one process ever runs: each holds one permit of
/// `Database::readers`, and `close` waits for all of them.
const MAX_READERS: u32 = 1 << 16;

/// A SQLite database file, opened read-only by each stream on its own connection.
#[derive(Debug, Clone)]
pub(crate) struct Database {
    path: PathBuf,
    /// One permit per reading thread still running.
    readers: Arc<Semaphore>,
}

/// What the reading thread sends, in this order: the columns (once the first
/// row is read, so a failing query fails before any row), blocks of rows, and
/// `End` — or `Failed` at any point. A channel that closes without `End` or
/// `Failed` means the thread died: an error, never a quiet end of the rows.
enum Message {
    Columns(Vec<Column>),
    Rows(Vec<Vec<Value>>),
    End,
    Failed(Error),
}

impl Database {
    /// Opens the file once to check that it is a database backflow can read
    /// (the file's header is read, so a file that is not SQLite fails here).
    pub(crate) async fn open(path: &Path, redactor: &Redactor) -> Result<Database, Error> {
        let checked = path.to_path_buf();
        let check = tokio::task::spawn_blocking(move || {
            connect(&checked)?.query_row("PRAGMA schema_version", [], |_| Ok(()))
        })
        .await;
        match check {
            Ok(Ok(())) => Ok(Database {
                path: path.to_path_buf(),
                readers: Arc::new(Semaphore::new(MAX_READERS as usize)),
            }),
            Ok(Err(e)) => Err(redactor.connect_error(&e.to_string())),
            Err(e) => Err(redactor.connect_error(&format!("the check stopped: {e}"))),
        }
    }

    /// Starts the query on a thread of its own; returns the columns once the
    /// first row is read (or the query failed), and the rows to come.
    pub(crate) async fn query(
        &self,
        model: &str,
        sql: &str,
        redactor: &Redactor,
    ) -> Result<(Vec<Column>, Rows), Error> {
        let died = || redactor.query_error(model, "the SQLite reader stopped unexpectedly");
        let permit = Arc::clone(&self.readers)
            .try_acquire_owned()
            .map_err(|_| redactor.query_error(model, "too many SQLite readers at once"))?;
        let failed = |e: rusqlite::Error| redactor.query_error(model, &e.to_string());
        let path = self.path.clone();
        let connection = tokio::task::spawn_blocking(move || connect(&path))
            .await
            .map_err(|_| died())?
            .map_err(failed)?;
        // From here on, a caller that goes away (or a failed run) stops the
        // statement, even one still sorting before its first row.
        let interrupt = Interrupt(connection.get_interrupt_handle());
        let (tx, mut rx) = mpsc::channel(BLOCKS_IN_FLIGHT);
        let reader = Reader {
            sql: sql.to_string(),
            model: model.to_string(),
            redactor: redactor.clone(),
            tx,
        };
        tokio::task::spawn_blocking(move || reader.run(connection, permit));
        match rx.recv().await {
            Some(Message::Columns(columns)) => Ok((
                columns,
                Rows {
                    rx,
                    block: Vec::new().into_iter(),
                    done: false,
                    _interrupt: interrupt,
                },
            )),
            Some(Message::Failed(e)) => Err(e),
            Some(Message::Rows(_) | Message::End) | None => Err(died()),
        }
    }

    /// Waits until every reading thread has stopped (a dropped stream's
    /// statement is interrupted, so this is quick).
    pub(crate) async fn close(&self) {
        // The semaphore is never closed, so this only waits; the permits go
        // back at once (the warehouse stays usable, as a sqlx pool does not).
        let _all = self.readers.acquire_many(MAX_READERS).await;
    }
}

/// The rows of a running query, read one at a time with [`Rows::next`].
pub(crate) struct Rows {
    rx: mpsc::Receiver<Message>,
    block: std::vec::IntoIter<Vec<Value>>,
    done: bool,
    _interrupt: Interrupt,
}

impl Rows {
    /// The next row, `None` after the last.
    pub(crate) async fn next(
        &mut self,
        model: &str,
        redactor: &Redactor,
    ) -> Option<Result<Vec<Value>, Error>> {
        loop {
            if let Some(row) = self.block.next() {
                return Some(Ok(row));
            }
            if self.done {
                return None;
            }
            match self.rx.recv().await {
                Some(Message::Rows(rows)) => self.block = rows.into_iter(),
                Some(Message::End) => self.done = true,
                Some(Message::Failed(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Some(Message::Columns(_)) | None => {
                    self.done = true;
                    let message = "the SQLite reader stopped before the last row";
                    return Some(Err(redactor.query_error(model, message)));
                }
            }
        }
    }
}

/// Interrupts the statement when the rows are dropped (a no-op once it ended).
struct Interrupt(InterruptHandle);

impl Drop for Interrupt {
    fn drop(&mut self) {
        self.0.interrupt();
    }
}

/// Read-only: a model can never change the warehouse, and nothing is created.
/// No journal-mode change either (it would need write access).
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    Ok(connection)
}

/// The reading thread's side.
struct Reader {
    sql: String,
    model: String,
    redactor: Redactor,
    tx: mpsc::Sender<Message>,
}

impl Reader {
    /// `_permit` is given back when the thread ends (see [`Database::close`]).
    fn run(self, connection: Connection, _permit: OwnedSemaphorePermit) {
        let outcome = self.read(&connection);
        // The receiver may be gone (the run stopped early): nothing to tell then.
        let _ = self.tx.blocking_send(match outcome {
            Ok(()) => Message::End,
            Err(e) => Message::Failed(e),
        });
    }

    /// Steps the statement to its end, sending the columns and then the rows in
    /// blocks. Returns early (`Ok`) when the receiver has gone.
    fn read(&self, connection: &Connection) -> Result<(), Error> {
        let failed = |e: rusqlite::Error| self.redactor.query_error(&self.model, &e.to_string());
        let mut statement = connection.prepare(&self.sql).map_err(failed)?;
        let columns: Vec<Column> = statement
            .columns()
            .iter()
            .map(|c| column(c.name(), sqlite_declared_kind(c.decl_type())))
            .collect();
        let mut rows = statement.query([]).map_err(failed)?;
        // The first step before the columns: a query that fails when it runs
        // fails the stream's start, like every other warehouse's (a cell that
        // cannot be decoded is the first row's error, as for any row).
        let mut next = rows.next().map_err(failed);
        if let Ok(Some(_)) | Ok(None) = next {
            if self
                .tx
                .blocking_send(Message::Columns(columns.clone()))
                .is_err()
            {
                return Ok(());
            }
        }
        let mut block = Vec::with_capacity(BLOCK_ROWS);
        // Every row read before an error is handed on before it.
        let outcome = loop {
            let row = match next {
                Ok(Some(row)) => row,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            };
            match decode_row(row, &columns, &self.model) {
                Ok(values) => block.push(values),
                Err(e) => break Err(e),
            }
            if block.len() == BLOCK_ROWS {
                let full = std::mem::replace(&mut block, Vec::with_capacity(BLOCK_ROWS));
                if self.tx.blocking_send(Message::Rows(full)).is_err() {
                    return Ok(());
                }
            }
            next = rows.next().map_err(failed);
        };
        if !block.is_empty() && self.tx.blocking_send(Message::Rows(block)).is_err() {
            return Ok(());
        }
        outcome
    }
}

fn decode_row(
    row: &rusqlite::Row<'_>,
    columns: &[Column],
    model: &str,
) -> Result<Vec<Value>, Error> {
    let mut values = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let raw = row
            .get_ref(i)
            .map_err(|e| decode_error(model, column, "?", e))?;
        values.push(
            decode(raw)
                .map_err(|(storage, message)| decode_error(model, column, storage, message))?,
        );
    }
    Ok(values)
}

/// One cell by its storage class.
fn decode(raw: ValueRef<'_>) -> Result<Value, (&'static str, String)> {
    let text = |bytes: &[u8], storage: &'static str| {
        String::from_utf8(bytes.to_vec()).map(Value::Text).map_err(|_| {
            let message = "binary data that is not UTF-8 text; convert it in the model's SQL (`hex(column)`)";
            (storage, message.to_string())
        })
    };
    match raw {
        ValueRef::Null => Ok(Value::Null),
        ValueRef::Integer(i) => Ok(Value::Int(i)),
        ValueRef::Real(f) => Ok(Value::Float(f)),
        ValueRef::Text(bytes) => text(bytes, "TEXT"),
        ValueRef::Blob(bytes) => text(bytes, "BLOB"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_by_storage_class() {
        assert_eq!(decode(ValueRef::Null), Ok(Value::Null));
        assert_eq!(decode(ValueRef::Integer(-7)), Ok(Value::Int(-7)));
        assert_eq!(decode(ValueRef::Real(1.5)), Ok(Value::Float(1.5)));
        assert_eq!(
            decode(ValueRef::Text("zoë".as_bytes())),
            Ok(Value::Text("zoë".into()))
        );
        // A blob that is UTF-8 is text (SQLite hands `CAST(x AS BLOB)` over so).
        assert_eq!(
            decode(ValueRef::Blob(b"abc")),
            Ok(Value::Text("abc".into()))
        );
        let (storage, message) = decode(ValueRef::Blob(&[0xff, 0x00])).unwrap_err();
        assert_eq!(storage, "BLOB");
        assert!(message.contains("hex(column)"), "{message}");
        let (storage, _) = decode(ValueRef::Text(&[0xc3])).unwrap_err();
        assert_eq!(storage, "TEXT");
    }
}
