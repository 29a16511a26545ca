//! S3 objects of a run: the batches `extract` writes and `load` reads (one object per
//! `load` invocation, key [`batch_key`]), and small JSON artifacts beside them
//! (`runs/{run_id}/skip.json`, ...). Everything is JSON with `application/json`.

use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use backflow_core::batch::{batch_key, Batch, LoadRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::context;
use crate::Error;

/// The run objects in the stack's bucket.
#[derive(Debug, Clone)]
pub struct Batches {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl Batches {
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>) -> Batches {
        Batches {
            s3,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Writes the batch at `batch_key(run_id, seq)` and returns the key. Writing the
    /// same batch twice overwrites it (a retried extract is harmless).
    pub async fn put(&self, batch: &Batch) -> Result<String, Error> {
        let key = batch_key(&batch.run_id, batch.seq);
        self.put_json(&key, batch).await?;
        Ok(key)
    }

    /// Reads the batch a `load` invocation names: a JSON object holding that
    /// batch of that run ([`backflow_core::payload::batch`]); a missing object is
    /// [`Error::S3NotFound`].
    pub async fn get(&self, request: &LoadRequest) -> Result<Batch, Error> {
        let key = &request.key;
        let Some(bytes) = get_object(&self.s3, &self.bucket, key).await? else {
            return Err(Error::S3NotFound {
                bucket: self.bucket.clone(),
                key: key.to_string(),
            });
        };
        backflow_core::payload::batch(&bytes, request)
            .map_err(|e| Error::corrupt(format!("s3://{}/{key}", self.bucket), e))
    }

    /// Writes any serializable value as a JSON object at `key`.
    pub async fn put_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), Error> {
        let body = serde_json::to_vec(value).map_err(|e| Error::S3 {
            op: "PutObject",
            bucket: self.bucket.clone(),
            key: key.to_string(),
            message: format!("cannot encode JSON: {e}"),
        })?;
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| Error::S3 {
                op: "PutObject",
                bucket: self.bucket.clone(),
                key: key.to_string(),
                message: context(&e),
            })?;
        Ok(())
    }

    /// Reads the JSON object at `key`; `None` when it does not exist.
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        let Some(bytes) = get_object(&self.s3, &self.bucket, key).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::corrupt(format!("s3://{}/{key}", self.bucket), e))
    }
}

/// The object's bytes, `None` when there is no such key.
pub(crate) async fn get_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, Error> {
    let failed = |message: String| Error::S3 {
        op: "GetObject",
        bucket: bucket.to_string(),
        key: key.to_string(),
        message,
    };
    let out = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out,
        Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => {
            return Ok(None)
        }
        Err(e) => return Err(failed(context(&e))),
    };
    let body = out.body.collect().await.map_err(|e| failed(context(&e)))?;
    Ok(Some(body.into_bytes().to_vec()))
}
