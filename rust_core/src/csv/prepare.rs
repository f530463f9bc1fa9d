//! Before the parallel pass: read a sample, refuse what is not CSV text, take the
//! header and settle the schema (inferred, or the caller's, checked).
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};

use super::chunker::Chunker;
use super::convert::is_supported;
use super::infer::{header_names, infer_schema, positional_names, reconcile_width};
use super::source::Source;
use super::tokenize::{tokenize, Records};
use super::type_name;
use crate::error::{KernelError, Location, Result};
use crate::sniff::{binary_kind, refusal_hint};

/// Bytes read to infer the schema.
pub const SAMPLE_BYTES: usize = 1024 * 1024;

/// What the parallel pass needs to know.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub schema: SchemaRef,
    pub has_header: bool,
    /// Per column: few distinct values in the sample, so Parquet dictionary encoding
    /// pays off (near-unique columns skip it instead of building and dropping one).
    pub dictionary: Vec<bool>,
}

/// Dictionary-encode a column when at most this share of its sampled values is distinct.
const DICTIONARY_MAX_DISTINCT: f64 = 0.3;

fn dictionary_worthy(rec: &Records, from: usize, to: usize, ncols: usize) -> Vec<bool> {
    (0..ncols)
        .map(|c| {
            let mut seen = HashSet::new();
            let mut values = 0usize;
            for r in from..to {
                if rec.fits(r, ncols) {
                    let v = rec.field(r, c);
                    if !v.is_empty() {
                        values += 1;
                        seen.insert(v);
                    }
                }
            }
            values == 0 || (seen.len() as f64) <= DICTIONARY_MAX_DISTINCT * values as f64
        })
        .collect()
}

/// Refuse compressed and binary files with a clear reason instead of garbage rows.
fn sniff(path: &Path, head: &[u8]) -> Result<()> {
    match binary_kind(head) {
        Some(what) => Err(KernelError::format(
            path,
            None,
            format!("this is {what}, not CSV text ({})", refusal_hint(what)),
        )),
        None => Ok(()),
    }
}

/// An empty table: no columns (or the given schema's), no rows.
fn empty(schema: Option<SchemaRef>, has_header: bool) -> Prepared {
    let schema = schema.unwrap_or_else(|| Arc::new(Schema::empty()));
    let dictionary = vec![false; schema.fields().len()];
    Prepared {
        schema,
        has_header,
        dictionary,
    }
}

/// Sample `source` and settle its schema.
pub fn prepare(
    source: &Source,
    schema: Option<SchemaRef>,
    sample_bytes: usize,
) -> Result<Prepared> {
    let src = source.path();
    let has_header = source.has_header();
    let delimiter = source.delimiter();
    let mut chunker = Chunker::open(source, sample_bytes)?;
    let Some(chunk) = chunker.next_chunk()? else {
        return Ok(empty(schema, has_header)); // an empty file is an empty table
    };
    sniff(src, &chunk.data)?;
    let rec = tokenize(&chunk.data, delimiter).map_err(|e| KernelError::format(src, None, e))?;
    if rec.is_empty() {
        return Ok(empty(schema, has_header)); // only line breaks
    }
    if let (Some(pos), true) = (chunk.unterminated_quote, has_header && rec.len() == 1) {
        return Err(KernelError::format(
            src,
            Some(Location {
                line: chunk.line_of(pos),
                column: rec.num_fields(0) as u64,
                column_name: None,
            }),
            "unterminated quoted field in the header: no closing quote before end of file",
        ));
    }
    let names = if has_header {
        header_names(&rec, 0).map_err(|(c, why)| {
            KernelError::format(
                src,
                Some(Location {
                    line: chunk.line_of(rec.span(0).0),
                    column: c as u64 + 1,
                    column_name: None,
                }),
                why,
            )
        })?
    } else {
        positional_names(rec.num_fields(0))
    };
    let from = usize::from(has_header);
    // An unterminated last record is incomplete: keep it out of the sample.
    let sample_end = if chunk.unterminated_quote.is_some() {
        rec.len().saturating_sub(1)
    } else {
        rec.len()
    };
    let mut names = names;
    if has_header {
        let rows: Vec<(usize, usize)> = (from..sample_end)
            .map(|r| {
                let n = rec.num_fields(r);
                let used = (0..n)
                    .rposition(|c| !rec.field(r, c).is_empty())
                    .map_or(0, |c| c + 1);
                (n, used)
            })
            .collect();
        let named = (0..rec.num_fields(0))
            .rposition(|c| !rec.field(0, c).is_empty())
            .map_or(0, |c| c + 1);
        let width = reconcile_width(names.len(), named, &rows);
        names.truncate(width);
        for i in names.len()..width {
            names.push(format!("column_{}", i + 1));
        }
    }
    let values = &source.dialect().values;
    let schema = match schema {
        Some(given) if has_header && given.metadata().contains_key(BY_NAME) => {
            let inferred = infer_schema(&rec, from, sample_end, &names, values);
            by_name(src, &given, &inferred)?
        }
        Some(given) => check_schema(src, given, &names, has_header)?,
        None => Arc::new(infer_schema(&rec, from, sample_end, &names, values)),
    };
    let dictionary = dictionary_worthy(&rec, from, sample_end, names.len());
    Ok(Prepared {
        schema,
        has_header,
        dictionary,
    })
}

fn check_types<'a>(fields: impl IntoIterator<Item = &'a Field>) -> Result<()> {
    for f in fields {
        if !is_supported(f.data_type()) {
            return Err(KernelError::Invalid(format!(
                "column {:?}: type {} is not supported (use string, bool, integers, floats, date32 or timestamps)",
                f.name(),
                type_name(f.data_type())
            )));
        }
    }
    Ok(())
}

/// Schema metadata key: the schema types the columns it names, wherever they stand in
/// the file's header; the file's other columns keep their inferred types.
pub const BY_NAME: &str = "aerofs.schema.by_name";

/// The file's columns in header order, typed by `given` where it names them, else as
/// inferred. A nullable column of `given` the file lacks is left out (its readers see
/// null); an error names the non-nullable ones it lacks.
fn by_name(src: &Path, given: &Schema, inferred: &Schema) -> Result<SchemaRef> {
    let missing: Vec<&str> = given
        .fields()
        .iter()
        .filter(|f| !f.is_nullable() && inferred.field_with_name(f.name()).is_err())
        .map(|f| f.name().as_str())
        .collect();
    if !missing.is_empty() {
        let names: Vec<&str> = inferred
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        return Err(KernelError::format(
            src,
            None,
            format!(
                "the file lacks the schema's non-nullable columns {missing:?} (its columns: \
                 {names:?})"
            ),
        ));
    }
    let fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| match given.field_with_name(f.name()) {
            Ok(declared) => declared.clone(),
            Err(_) => f.as_ref().clone(),
        })
        .collect();
    check_types(&fields)?;
    let mut metadata = given.metadata().clone();
    metadata.remove(BY_NAME);
    Ok(Arc::new(Schema::new_with_metadata(fields, metadata)))
}

fn check_schema(
    src: &Path,
    given: SchemaRef,
    names: &[String],
    has_header: bool,
) -> Result<SchemaRef> {
    check_types(given.fields().iter().map(|f| f.as_ref()))?;
    let given_names: Vec<&str> = given.fields().iter().map(|f| f.name().as_str()).collect();
    if given_names.len() != names.len()
        || (has_header && given_names.iter().zip(names).any(|(a, b)| *a != b))
    {
        return Err(KernelError::format(
            src,
            None,
            format!(
                "the schema's columns {given_names:?} do not match the file's columns {names:?}"
            ),
        ));
    }
    Ok(Arc::new(Schema::new_with_metadata(
        given.fields().clone(),
        given.metadata().clone(),
    )))
}
