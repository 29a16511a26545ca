//! Results that arrive a page at a time behind a token (Athena's
//! `GetQueryResults`, the Redshift Data API's `GetStatementResult`): the
//! decoded rows of one page are held, and the next page is fetched only when
//! they are used up, so memory holds one page whatever the row count.

use std::collections::VecDeque;

use backflow_core::value::Value;

use crate::redact::Redactor;
use crate::Error;

/// How one warehouse fetches and decodes its pages.
pub(crate) trait Pages {
    type Page;

    /// The page after `token`.
    async fn fetch(&self, token: String) -> Result<Self::Page, String>;

    /// Decodes the rows of `page` into `out` (`model` names the errors);
    /// returns the next page's token, `None` after the last page.
    fn decode(
        &mut self,
        model: &str,
        page: Self::Page,
        out: &mut VecDeque<Vec<Value>>,
    ) -> Result<Option<String>, Error>;
}

/// The rows of one result, read page by page.
pub(crate) struct Paged<P> {
    pages: P,
    model: String,
    ready: VecDeque<Vec<Value>>,
    next_token: Option<String>,
}

impl<P: Pages> Paged<P> {
    /// Starts with `first`, the page already fetched (it told the columns).
    pub(crate) fn new(mut pages: P, model: &str, first: P::Page) -> Result<Self, Error> {
        let mut ready = VecDeque::new();
        let next_token = pages.decode(model, first, &mut ready)?;
        Ok(Paged {
            pages,
            model: model.to_string(),
            ready,
            next_token,
        })
    }

    /// The next row; `None` at the end.
    pub(crate) async fn next(&mut self, redactor: &Redactor) -> Option<Result<Vec<Value>, Error>> {
        loop {
            if let Some(row) = self.ready.pop_front() {
                return Some(Ok(row));
            }
            let token = self.next_token.take()?;
            let decoded = match self.pages.fetch(token).await {
                Ok(page) => self.pages.decode(&self.model, page, &mut self.ready),
                Err(message) => Err(redactor.query_error(&self.model, &message)),
            };
            match decoded {
                Ok(token) => self.next_token = token.filter(|t| !t.is_empty()),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// A result column as errors name it.
pub(crate) trait Named {
    fn name(&self) -> &str;
    fn type_name(&self) -> &str;
}

/// One row: each of `cells` read by `cell` as its column says. A row of the
/// wrong width, or a cell that cannot be read, is an error naming the model,
/// the column and its type.
pub(crate) fn decode_row<C, T: Named>(
    model: &str,
    cells: &[C],
    columns: &[T],
    cell: impl Fn(&C, &T) -> Result<Value, String>,
) -> Result<Vec<Value>, Error> {
    let error = |i: usize, message: String| {
        let column = columns.get(i);
        crate::cell_error(
            model,
            column.map(Named::name),
            column.map(Named::type_name),
            message,
        )
    };
    if cells.len() != columns.len() {
        return Err(error(
            0,
            format!(
                "a row has {} cells, the result {} columns",
                cells.len(),
                columns.len()
            ),
        ));
    }
    cells
        .iter()
        .zip(columns)
        .enumerate()
        .map(|(i, (c, column))| cell(c, column).map_err(|e| error(i, e)))
        .collect()
}
