//! Document files in S3: upload, and short-lived download links. `aws-config` reads the region,
//! credentials and `AWS_ENDPOINT_URL` (moto locally, with path-style addressing) from the
//! environment.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use servicehub_events::catalog::StoredFile;
use servicehub_platform::config::{ConfigError, Vars};
use sha2::{Digest, Sha256};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct DocumentFiles {
    client: Client,
    bucket: String,
}

#[derive(Debug, thiserror::Error)]
#[error("S3 {action} failed: {detail}")]
pub struct FileError {
    action: &'static str,
    detail: String,
}

impl DocumentFiles {
    /// From `DOCUMENTS_BUCKET` and the AWS environment.
    /// The bucket `DOCUMENTS_BUCKET` names (required), through the AWS SDK's own configuration.
    pub async fn from_env() -> Result<DocumentFiles, ConfigError> {
        let vars = Vars::from_env();
        let bucket = vars.required("DOCUMENTS_BUCKET")?;
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        // Local emulators serve buckets under paths, not host names.
        let path_style = vars.get("AWS_ENDPOINT_URL").is_some();
        let client = Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(path_style)
                .build(),
        );
        Ok(DocumentFiles { client, bucket })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Stores a PDF under `key` (idempotent: the same key gets the same bytes again).
    pub async fn put_pdf(&self, key: &str, bytes: Vec<u8>) -> Result<StoredFile, FileError> {
        let sha256 = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let size_bytes = bytes.len() as u64;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/pdf")
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| FileError {
                action: "upload",
                detail: DisplayErrorContext(&e).to_string(),
            })?;
        Ok(StoredFile {
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            sha256,
            size_bytes,
            content_type: "application/pdf".into(),
        })
    }

    /// A GET link valid for `ttl`.
    pub async fn download_url(&self, key: &str, ttl: Duration) -> Result<String, FileError> {
        let config = PresigningConfig::expires_in(ttl).map_err(|e| FileError {
            action: "presign",
            detail: e.to_string(),
        })?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| FileError {
                action: "presign",
                detail: DisplayErrorContext(&e).to_string(),
            })?;
        Ok(request.uri().to_owned())
    }
}
