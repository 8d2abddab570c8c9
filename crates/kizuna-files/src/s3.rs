//! Files in an S3-compatible object store: one object per part under
//! `<prefix>/<id>/<part>`. A PUT is atomic and durable once answered, so a
//! part is whole or absent, as in a directory.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};

use crate::{FileId, FileStore, FilesError, Result};

/// How to reach a bucket. The keys themselves come from the environment,
/// never from a file the configuration is kept in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Settings {
    /// `https://s3.ap-northeast-1.amazonaws.com`, or any S3-compatible
    /// endpoint.
    pub endpoint: String,
    pub bucket: String,
    /// The store's own region name (`ap-northeast-1`).
    pub region: String,
    /// Where under the bucket this region's files go.
    pub prefix: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

pub struct S3Store {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    describe: String,
}

impl S3Store {
    pub fn new(s: &S3Settings) -> Result<S3Store> {
        let describe = format!("s3://{}/{} at {}", s.bucket, s.prefix, s.endpoint);
        let store = AmazonS3Builder::new()
            .with_endpoint(&s.endpoint)
            .with_bucket_name(&s.bucket)
            .with_region(&s.region)
            .with_access_key_id(&s.access_key_id)
            .with_secret_access_key(&s.secret_access_key)
            // An endpoint given as http:// is one the operator chose (a
            // store on the node's own network); https is used otherwise.
            .with_allow_http(s.endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false)
            // A store that does not answer is reported within seconds, not
            // after minutes of retrying while an upload waits.
            .with_retry(object_store::RetryConfig {
                max_retries: 3,
                retry_timeout: std::time::Duration::from_secs(15),
                backoff: Default::default(),
            })
            .build()
            .map_err(|e| FilesError::Backend {
                store: describe.clone(),
                reason: e.to_string(),
            })?;
        Ok(S3Store {
            store: Arc::new(store),
            prefix: s.prefix.trim_matches('/').to_string(),
            describe,
        })
    }

    fn file_path(&self, id: &FileId) -> Path {
        if self.prefix.is_empty() {
            Path::from(id.as_str())
        } else {
            Path::from(format!("{}/{}", self.prefix, id))
        }
    }

    fn part_path(&self, id: &FileId, n: u32) -> Path {
        self.file_path(id).child(format!("{n:010}"))
    }

    fn failed(&self, e: impl std::fmt::Display) -> FilesError {
        FilesError::Backend {
            store: self.describe.clone(),
            reason: e.to_string(),
        }
    }
}

#[async_trait]
impl FileStore for S3Store {
    async fn put_part(&self, id: &FileId, n: u32, bytes: Bytes) -> Result<()> {
        self.store
            .put(&self.part_path(id, n), PutPayload::from(bytes))
            .await
            .map_err(|e| self.failed(e))?;
        Ok(())
    }

    async fn get_part(&self, id: &FileId, n: u32) -> Result<Option<Bytes>> {
        match self.store.get(&self.part_path(id, n)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(|e| self.failed(e))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed(e)),
        }
    }

    async fn parts(&self, id: &FileId) -> Result<Vec<u32>> {
        let listed: Vec<_> = self
            .store
            .list(Some(&self.file_path(id)))
            .try_collect()
            .await
            .map_err(|e| self.failed(e))?;
        let mut out: Vec<u32> = listed
            .iter()
            .filter_map(|m| m.location.filename()?.parse().ok())
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    async fn delete(&self, id: &FileId) -> Result<()> {
        for n in self.parts(id).await? {
            match self.store.delete(&self.part_path(id, n)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.failed(e)),
            }
        }
        Ok(())
    }

    async fn files(&self) -> Result<Vec<FileId>> {
        let prefix = (!self.prefix.is_empty()).then(|| Path::from(self.prefix.as_str()));
        let listed = self
            .store
            .list_with_delimiter(prefix.as_ref())
            .await
            .map_err(|e| self.failed(e))?;
        let mut out: Vec<FileId> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| FileId::parse(p.filename()?).ok())
            .collect();
        out.sort();
        Ok(out)
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}
