//! `backflow syncs`: the syncs, their schedules and last runs (`GET /syncs`).

use comfy_table::Cell;
use serde_json::Value;

use crate::api::Api;
use crate::commands::record::{counts_summary, took};
use crate::follow::record;
use crate::output::{cell_text, duration, Out};
use crate::{Error, EXIT_OK};

pub async fn run(api: &Api, out: &Out) -> anyhow::Result<u8> {
    let answer = api.get("/syncs", &[]).await?;
    if out.json {
        out.print_json(&answer);
        return Ok(EXIT_OK);
    }
    let syncs = list(&answer, "syncs", api)?;
    let mut table = out.table(&[
        "SYNC", "OBJECT", "BEHAVIOR", "SCHEDULE", "LAST RUN", "STATUS", "TOOK", "ROWS",
    ]);
    for s in syncs {
        let mut row = vec![
            Cell::new(cell_text(&s["name"])),
            Cell::new(cell_text(&s["object"])),
            Cell::new(cell_text(&s["behavior"])),
            Cell::new(cell_text(&s["schedule"])),
        ];
        match s.get("last_run").filter(|v| !v.is_null()) {
            None => row.extend([
                Cell::new("never"),
                Cell::new(""),
                Cell::new(""),
                Cell::new(""),
            ]),
            Some(last) => {
                let r = record(last, api.base_url())?;
                row.extend([
                    Cell::new(&r.run_id),
                    out.status_cell(r.status.as_str()),
                    Cell::new(took(&r).map(duration).unwrap_or_default()),
                    Cell::new(if r.dry_run {
                        "dry run".to_string()
                    } else {
                        counts_summary(&r.counts)
                    }),
                ]);
            }
        }
        table.add_row(row);
    }
    if table.row_count() == 0 {
        println!("no syncs in the stack's config");
    } else {
        out.print_table(&table);
    }
    Ok(EXIT_OK)
}

/// The `key` array of an answer, or an error naming what came instead.
pub fn list<'a>(answer: &'a Value, key: &str, api: &Api) -> Result<&'a Vec<Value>, Error> {
    answer
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Unexpected {
            url: api.base_url().to_string(),
            status: 200,
            detail: format!(
                "no `{key}` list in {}",
                crate::api::excerpt(&answer.to_string())
            ),
        })
}
