//! An in-memory S3 for the benchmark: the handful of operations the functions and the emulator's
//! export use, answered in microseconds, so that "init + first invocation" measures the function
//! rather than moto's Python server (moto stays the S3 of the end-to-end tests). Path-style only,
//! which is what the SDK uses for an IP endpoint.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

type Objects = Arc<Mutex<BTreeMap<(String, String), Bytes>>>;
/// Objects too large to hold: `size` bytes, `block` repeated, generated per ranged GET.
type Synthetic = Arc<Mutex<BTreeMap<(String, String), (u64, Bytes)>>>;

/// Bytes `first..=last` of `block` repeated.
pub fn synthetic_range(block: &[u8], first: u64, last: u64) -> Vec<u8> {
    let len = block.len() as u64;
    let mut out = Vec::with_capacity((last - first + 1) as usize);
    let mut at = first;
    while at <= last {
        let from = (at % len) as usize;
        let take = ((len - from as u64).min(last - at + 1)) as usize;
        out.extend_from_slice(&block[from..from + take]);
        at += take as u64;
    }
    out
}

/// Requests by operation, and the latency every request waits before it is answered.
#[derive(Default)]
pub struct Meter {
    latency: Mutex<std::time::Duration>,
    counts: Mutex<BTreeMap<String, u64>>,
}

impl Meter {
    /// Every request from now on waits `latency` before it is answered.
    pub fn set_latency(&self, latency: std::time::Duration) {
        *self.latency.lock().expect("stub lock") = latency;
    }

    /// The requests by operation since the last call, and a fresh count.
    pub fn take_counts(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.counts.lock().expect("stub lock"))
    }

    async fn call(&self, operation: &str) {
        *self
            .counts
            .lock()
            .expect("stub lock")
            .entry(operation.to_owned())
            .or_default() += 1;
        let latency = *self.latency.lock().expect("stub lock");
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }
}

#[derive(Clone)]
struct Stub {
    objects: Objects,
    synthetic: Synthetic,
    meter: Arc<Meter>,
}

/// A running stub on 127.0.0.1; stops when dropped.
pub struct S3Stub {
    pub endpoint: String,
    objects: Objects,
    synthetic: Synthetic,
    pub meter: Arc<Meter>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for S3Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl S3Stub {
    pub async fn start() -> anyhow::Result<Self> {
        let objects = Objects::default();
        let objects_handle = objects.clone();
        let synthetic = Synthetic::default();
        let synthetic_handle = synthetic.clone();
        let meter = Arc::new(Meter::default());
        let app = Router::new()
            .route("/{bucket}", axum::routing::any(bucket))
            .route("/{bucket}/", axum::routing::any(bucket))
            .route("/{bucket}/{*key}", axum::routing::any(object))
            .with_state(Stub {
                objects,
                synthetic,
                meter: meter.clone(),
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            endpoint,
            objects: objects_handle,
            synthetic: synthetic_handle,
            meter,
            task,
        })
    }

    /// An object of `size` bytes, `block` repeated, never held whole: each ranged GET generates
    /// its bytes (the hashing bench's 100 GiB export).
    pub fn insert_synthetic(&self, bucket: &str, key: &str, size: u64, block: Bytes) {
        self.synthetic
            .lock()
            .expect("stub lock")
            .insert((bucket.to_owned(), key.to_owned()), (size, block));
    }

    /// Puts an object directly (no upload): the hashing bench serves a large one.
    pub fn insert(&self, bucket: &str, key: &str, body: Bytes) {
        self.objects
            .lock()
            .expect("stub lock")
            .insert((bucket.to_owned(), key.to_owned()), body);
    }
}

fn error(status: StatusCode, code: &str) -> Response {
    let body = format!("<Error><Code>{code}</Code><Message>{code}</Message></Error>");
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

fn etag(body: &[u8]) -> String {
    format!("\"{:016x}\"", body.len())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// CreateBucket (PUT) and ListObjectsV2 (GET `?list-type=2&prefix=`); one page is enough here.
async fn bucket(
    State(stub): State<Stub>,
    method: Method,
    Path(bucket): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if method == Method::PUT {
        stub.meter.call("CreateBucket").await;
        return StatusCode::OK.into_response();
    }
    stub.meter.call("ListObjectsV2").await;
    let prefix = query.get("prefix").cloned().unwrap_or_default();
    let objects = stub.objects.lock().expect("stub lock");
    let entries: Vec<String> = objects
        .iter()
        .filter(|((b, k), _)| *b == bucket && k.starts_with(&prefix))
        .map(|((_, k), v)| {
            format!(
                "<Contents><Key>{}</Key><Size>{}</Size><ETag>{}</ETag><LastModified>2026-11-20T10:00:00.000Z</LastModified><StorageClass>STANDARD</StorageClass></Contents>",
                escape(k),
                v.len(),
                escape(&etag(v))
            )
        })
        .collect();
    let count = entries.len();
    let contents = entries.concat();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{}</Name><Prefix>{}</Prefix><KeyCount>{count}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>{contents}</ListBucketResult>",
        escape(&bucket),
        escape(&prefix)
    );
    ([(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

/// `Range: bytes=<first>-<last>` of an object of `len` bytes, as S3 reads it.
fn range(headers: &HeaderMap, len: usize) -> Option<(usize, usize)> {
    let spec = headers
        .get(header::RANGE)?
        .to_str()
        .ok()?
        .strip_prefix("bytes=")?;
    let (first, last) = spec.split_once('-')?;
    let first: usize = first.parse().ok()?;
    let last: usize = last.parse::<usize>().ok()?.min(len.checked_sub(1)?);
    (first <= last).then_some((first, last))
}

/// GetObject (with `Range`), HeadObject, PutObject (with `If-None-Match: *`) and DeleteObject.
async fn object(
    State(stub): State<Stub>,
    method: Method,
    Path((bucket, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let operation = match method {
        Method::PUT => "PutObject",
        Method::GET => "GetObject",
        Method::HEAD => "HeadObject",
        Method::DELETE => "DeleteObject",
        _ => "other",
    };
    stub.meter.call(operation).await;
    let headers_in = headers.clone();
    let id = (bucket, key);
    if matches!(method, Method::GET | Method::HEAD) {
        let found = stub.synthetic.lock().expect("stub lock").get(&id).cloned();
        if let Some((size, block)) = found {
            return synthetic(&method, &headers_in, size, &block);
        }
    }
    let mut objects = stub.objects.lock().expect("stub lock");
    match method {
        Method::PUT => {
            if headers.get(header::IF_NONE_MATCH).is_some() && objects.contains_key(&id) {
                return error(StatusCode::PRECONDITION_FAILED, "PreconditionFailed");
            }
            let body = if is_aws_chunked(&headers) {
                decode_aws_chunked(&body)
            } else {
                body
            };
            let tag = etag(&body);
            objects.insert(id, body);
            (StatusCode::OK, [(header::ETAG, tag)]).into_response()
        }
        Method::GET | Method::HEAD => match objects.get(&id) {
            Some(body) => {
                let headers = [
                    (header::ETAG, etag(body)),
                    (header::CONTENT_LENGTH, body.len().to_string()),
                    (
                        header::LAST_MODIFIED,
                        "Fri, 20 Nov 2026 10:00:00 GMT".to_owned(),
                    ),
                ];
                if method == Method::HEAD {
                    (StatusCode::OK, headers).into_response()
                } else if let Some((first, last)) = range(&headers_in, body.len()) {
                    let part = body.slice(first..=last);
                    (
                        StatusCode::PARTIAL_CONTENT,
                        [
                            (header::ETAG, etag(body)),
                            (header::CONTENT_LENGTH, part.len().to_string()),
                            (
                                header::CONTENT_RANGE,
                                format!("bytes {first}-{last}/{}", body.len()),
                            ),
                        ],
                        part,
                    )
                        .into_response()
                } else {
                    (StatusCode::OK, headers, body.clone()).into_response()
                }
            }
            None if method == Method::HEAD => StatusCode::NOT_FOUND.into_response(),
            None => error(StatusCode::NOT_FOUND, "NoSuchKey"),
        },
        Method::DELETE => {
            objects.remove(&id);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed"),
    }
}

/// GetObject (ranged) and HeadObject of a synthetic object.
fn synthetic(method: &Method, headers: &HeaderMap, size: u64, block: &[u8]) -> Response {
    let tag = format!("\"synthetic-{size:016x}\"");
    let last_modified = "Fri, 20 Nov 2026 10:00:00 GMT".to_owned();
    let (first, last) = match range(headers, usize::try_from(size).unwrap_or(usize::MAX)) {
        Some((first, last)) => (first as u64, last as u64),
        None if *method == Method::HEAD => {
            return (
                StatusCode::OK,
                [
                    (header::ETAG, tag),
                    (header::CONTENT_LENGTH, size.to_string()),
                    (header::LAST_MODIFIED, last_modified),
                ],
            )
                .into_response();
        }
        // A whole GET of an object too large to hold is not what the bench does.
        None => return error(StatusCode::NOT_IMPLEMENTED, "NotImplemented"),
    };
    let part = synthetic_range(block, first, last);
    (
        StatusCode::PARTIAL_CONTENT,
        [
            (header::ETAG, tag),
            (header::CONTENT_LENGTH, part.len().to_string()),
            (
                header::CONTENT_RANGE,
                format!("bytes {first}-{last}/{size}"),
            ),
        ],
        part,
    )
        .into_response()
}

fn is_aws_chunked(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("aws-chunked"))
}

/// The body of an `aws-chunked` upload (the SDK sends its checksum as a trailer this way):
/// `<hex size>[;…]\r\n<data>\r\n` … `0\r\n<trailers>\r\n`.
fn decode_aws_chunked(raw: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&rest[..end]);
        let size =
            usize::from_str_radix(line.split(';').next().unwrap_or("0").trim(), 16).unwrap_or(0);
        rest = &rest[end + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_synthetic_range_spans_blocks_should_repeat_the_block() {
        let block = b"abcde";
        assert_eq!(synthetic_range(block, 3, 11), b"deabcdeab");
        assert_eq!(synthetic_range(block, 0, 0), b"a");
        assert_eq!(synthetic_range(block, 5, 9), b"abcde");
    }

    #[test]
    fn when_body_is_aws_chunked_should_keep_only_the_data() {
        let raw = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
        assert_eq!(&decode_aws_chunked(raw)[..], b"hello world");
    }
}
