//! Reads the config (`BACKFLOW_CONFIG`) from a local path or `s3://bucket/key`, and
//! each model's `file:` from beside it (the config's folder, or its S3 key's prefix).
//! Parsing and validation are the core's ([`backflow_core::config::parse`]).

use std::path::{Path, PathBuf};

use backflow_core::config::Config;

use crate::batches::get_object;
use crate::Error;

/// Reads, parses and completes the config: afterwards every model has `sql`.
/// `${VAR}` in the text is replaced from the process environment.
pub async fn load_config(location: &str, s3: &aws_sdk_s3::Client) -> Result<Config, Error> {
    let source = Source::parse(location).map_err(|message| Error::ConfigRead {
        location: location.to_string(),
        message,
    })?;
    let text = source.read(s3).await.map_err(|message| Error::ConfigRead {
        location: location.to_string(),
        message,
    })?;
    let env = |name: &str| std::env::var(name).ok();
    let mut config = backflow_core::config::parse(&text, location, &env)?;
    if config.origin.is_empty() {
        config.origin = location.to_string();
    }
    for (name, model) in config.models.iter_mut() {
        let Some(file) = &model.file else { continue };
        let sql = source
            .sibling(file)
            .read(s3)
            .await
            .map_err(|message| Error::ModelFile {
                config: location.to_string(),
                model: name.clone(),
                file: file.clone(),
                message,
            })?;
        model.sql = Some(sql);
    }
    Ok(config)
}

/// A SQLite `path:` from the config, resolved against a local config's folder.
/// Absolute paths are kept; a config read from S3 has no local folder, so a relative
/// path is then relative to the working directory.
pub fn sqlite_path(config: &Config, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() || config.origin.starts_with("s3://") {
        return p.to_path_buf();
    }
    match Path::new(&config.origin).parent() {
        Some(dir) => dir.join(p),
        None => p.to_path_buf(),
    }
}

/// Where a text file lives.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Local(PathBuf),
    S3 { bucket: String, key: String },
}

impl Source {
    fn parse(location: &str) -> Result<Source, String> {
        let Some(rest) = location.strip_prefix("s3://") else {
            return Ok(Source::Local(PathBuf::from(location)));
        };
        match rest.split_once('/') {
            Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(Source::S3 {
                bucket: bucket.to_string(),
                key: key.to_string(),
            }),
            _ => Err("expected `s3://bucket/key`".to_string()),
        }
    }

    /// `file` relative to this file's folder (or absolute: a path, or `s3://`).
    fn sibling(&self, file: &str) -> Source {
        if file.starts_with("s3://") {
            if let Ok(source) = Source::parse(file) {
                return source;
            }
        }
        match self {
            Source::Local(path) => Source::Local(path.parent().unwrap_or(Path::new("")).join(file)),
            Source::S3 { bucket, key } => {
                let prefix = key.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("");
                Source::S3 {
                    bucket: bucket.clone(),
                    key: join_key(prefix, file),
                }
            }
        }
    }

    async fn read(&self, s3: &aws_sdk_s3::Client) -> Result<String, String> {
        let bytes = match self {
            Source::Local(path) => tokio::fs::read(path)
                .await
                .map_err(|e| format!("{}: {e}", path.display()))?,
            Source::S3 { bucket, key } => get_object(s3, bucket, key)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("`s3://{bucket}/{key}` does not exist"))?,
        };
        String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
    }
}

/// `dir` + `file` as an S3 key, resolving `.` and `..` (S3 keys are plain strings, so
/// `models/../x.sql` would otherwise name a different object); a leading `/` in `file`
/// starts from the bucket's root.
fn join_key(dir: &str, file: &str) -> String {
    let mut parts: Vec<&str> = if file.starts_with('/') {
        Vec::new()
    } else {
        dir.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in file.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            Source::parse("s3://b/config/backflow.yaml").unwrap(),
            Source::S3 {
                bucket: "b".into(),
                key: "config/backflow.yaml".into()
            }
        );
        assert!(Source::parse("s3://b").is_err());
        assert!(Source::parse("s3:///k").is_err());
        assert_eq!(
            Source::parse("examples/backflow.yaml").unwrap(),
            Source::Local("examples/backflow.yaml".into())
        );
    }

    #[test]
    fn siblings() {
        let s3 = Source::parse("s3://b/config/backflow.yaml").unwrap();
        let key = |s: Source| match s {
            Source::S3 { key, .. } => key,
            other => panic!("{other:?}"),
        };
        assert_eq!(key(s3.sibling("models/a.sql")), "config/models/a.sql");
        assert_eq!(key(s3.sibling("./a.sql")), "config/a.sql");
        assert_eq!(key(s3.sibling("../shared/a.sql")), "shared/a.sql");
        assert_eq!(key(s3.sibling("/top.sql")), "top.sql");
        assert_eq!(
            s3.sibling("s3://other/x.sql"),
            Source::S3 {
                bucket: "other".into(),
                key: "x.sql".into()
            }
        );
        let root = Source::parse("s3://b/backflow.yaml").unwrap();
        assert_eq!(key(root.sibling("models/a.sql")), "models/a.sql");

        let local = Source::parse("/etc/backflow/backflow.yaml").unwrap();
        assert_eq!(
            local.sibling("models/a.sql"),
            Source::Local("/etc/backflow/models/a.sql".into())
        );
        assert_eq!(
            Source::parse("backflow.yaml").unwrap().sibling("a.sql"),
            Source::Local("a.sql".into())
        );
    }
}
