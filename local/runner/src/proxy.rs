//! The authorizing proxy in front of moto (S3, CloudFront; and the reads `image-release doctor`
//! makes of CloudFormation, IAM and SNS, which moto serves too): every request a function (or the
//! emulator, as the VM Import role) signs is authorized as AWS would authorize it, by the
//! local account's IAM ([`iam::Account`]): the caller's role as `template.yaml` resolves it and
//! the bucket's policy. An allowed request goes on to moto unchanged; a denied one gets the
//! service's own answer (S3 `403 AccessDenied`, CloudFront `403 AccessDenied`).
//!
//! S3 also answers a GET or HEAD of a missing key with 403 instead of 404 when the caller may
//! not `s3:ListBucket` the bucket (S3 API Reference, GetObject: "If you don't have the
//! s3:ListBucket permission, Amazon S3 returns an HTTP status code 403 Forbidden error"): the
//! proxy does the same with moto's 404.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use iam::{Account, Call};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

mod query;
use query::{describe_query, query_denied};

/// A running proxy; dropping it stops it.
#[derive(Debug)]
pub struct AuthorizingProxy {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl AuthorizingProxy {
    /// Serves on 127.0.0.1 at a free port, forwarding to `upstream` (moto's endpoint).
    /// `stack_id` is the local stack's (`AWS::StackId`): what CloudFormation authorizes a
    /// DescribeStacks of its name against.
    pub async fn start(
        upstream: &str,
        account: Arc<Account>,
        stack_id: &str,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().build()?;
        let upstream = upstream.trim_end_matches('/').to_owned();
        let stack_id: Arc<str> = Arc::from(stack_id);
        let app = axum::Router::new()
            .fallback(
                move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                    let (client, upstream, account, stack_id) = (
                        client.clone(),
                        upstream.clone(),
                        account.clone(),
                        stack_id.clone(),
                    );
                    async move {
                        let target = Target {
                            client: &client,
                            upstream: &upstream,
                            account: &account,
                            stack_id: &stack_id,
                        };
                        handle(target, method, uri, headers, body).await
                    }
                },
            )
            // Exported disks are large: S3's own limit (5 GB a PUT) is moto's business.
            .layer(axum::extract::DefaultBodyLimit::disable());
        let (addr, stop) = crate::process::serve_locally(app).await?;
        Ok(Self {
            addr,
            stop: Some(stop),
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for AuthorizingProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The signing access key: `Credential=<key>/<date>/<region>/<service>/aws4_request`.
fn access_key(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?;
    credential.split('/').next().map(str::to_owned)
}

/// The service of the request's SigV4 credential scope (`<key>/<date>/<region>/<service>/…`).
fn signed_service(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?;
    credential.split('/').nth(3).map(str::to_owned)
}

fn region(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or("us-east-1")
        .to_owned()
}

fn query_has(uri: &Uri, name: &str) -> bool {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).any(|(k, _)| k == name)
}

fn query(uri: &Uri, name: &str) -> Option<String> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// What one S3 or CloudFront request is, for IAM. `None`: an operation no function makes (the
/// local account's administrator may still make it).
fn describe(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    account: &str,
) -> Option<(Call, Option<String>)> {
    let region = region(headers);
    let path = percent_decode(uri.path());
    if let Some(rest) = path.strip_prefix("/2020-05-31/distribution/") {
        let mut parts = rest.split('/');
        let id = parts.next()?;
        let arn = format!("arn:aws:cloudfront::{account}:distribution/{id}");
        let operation = match (method.as_str(), parts.next(), parts.next()) {
            ("POST", Some("invalidation"), None) => "cloudfront:CreateInvalidation",
            ("GET", Some("invalidation"), None) => "cloudfront:ListInvalidations",
            ("GET", Some("invalidation"), Some(_)) => "cloudfront:GetInvalidation",
            _ => return None,
        };
        return Some((Call::new(operation, &region).on("distribution", arn), None));
    }
    // S3, path-style (the SDKs use it for an IP endpoint): /<bucket>[/<key>].
    let trimmed = path.trim_start_matches('/');
    let (bucket, key) = match trimmed.split_once('/') {
        Some((b, k)) if !k.is_empty() => (b.to_owned(), Some(k.to_owned())),
        Some((b, _)) => (b.to_owned(), None),
        None => (trimmed.to_owned(), None),
    };
    if bucket.is_empty() {
        return None;
    }
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let call = match (method.as_str(), &key) {
        ("GET", Some(k)) if query_has(uri, "tagging") => {
            Call::new("s3:GetObjectTagging", &region).on("object", format!("{bucket_arn}/{k}"))
        }
        ("GET", Some(k)) => Call::new("s3:GetObject", &region)
            .as_action(if query_has(uri, "versionId") {
                "s3:GetObjectVersion"
            } else {
                "s3:GetObject"
            })
            .on("object", format!("{bucket_arn}/{k}")),
        ("HEAD", Some(k)) => {
            Call::new("s3:HeadObject", &region).on("object", format!("{bucket_arn}/{k}"))
        }
        ("PUT", Some(k)) if query_has(uri, "tagging") => Call::new("s3:PutObjectTagging", &region)
            .as_action(if query_has(uri, "versionId") {
                "s3:PutObjectVersionTagging"
            } else {
                "s3:PutObjectTagging"
            })
            .on("object", format!("{bucket_arn}/{k}")),
        ("PUT", Some(k)) if !headers.contains_key("x-amz-copy-source") => {
            Call::new("s3:PutObject", &region).on("object", format!("{bucket_arn}/{k}"))
        }
        // Multipart uploads are authorized as PutObject (S3 User Guide, "Multipart upload and permissions").
        ("POST", Some(k)) if query_has(uri, "uploads") || query_has(uri, "uploadId") => {
            Call::new("s3:PutObject", &region).on("object", format!("{bucket_arn}/{k}"))
        }
        ("DELETE", Some(k)) if !query_has(uri, "uploadId") => Call::new("s3:DeleteObject", &region)
            .as_action(if query_has(uri, "versionId") {
                "s3:DeleteObjectVersion"
            } else {
                "s3:DeleteObject"
            })
            .on("object", format!("{bucket_arn}/{k}")),
        ("GET", None) if query(uri, "list-type").as_deref() == Some("2") => {
            let call = Call::new("s3:ListObjectsV2", &region).on("bucket", bucket_arn.clone());
            match query(uri, "prefix") {
                Some(prefix) => call.context("s3:prefix", prefix),
                None => call,
            }
        }
        // Purge and retention delete every version of a disk.
        ("GET", None) if query_has(uri, "versions") => {
            let call = Call::new("s3:ListObjectVersions", &region).on("bucket", bucket_arn.clone());
            match query(uri, "prefix") {
                Some(prefix) => call.context("s3:prefix", prefix),
                None => call,
            }
        }
        // VM Export's checks of the export bucket (the emulator makes them as the VM Import role).
        ("GET", None) if query_has(uri, "location") => {
            Call::new("s3:GetBucketLocation", &region).on("bucket", bucket_arn.clone())
        }
        ("GET", None) if query_has(uri, "acl") => {
            Call::new("s3:GetBucketAcl", &region).on("bucket", bucket_arn.clone())
        }
        ("PUT", None) => Call::new("s3:CreateBucket", &region).on("bucket", bucket_arn.clone()),
        // doctor: is the bucket the account's (HeadBucket with ExpectedBucketOwner).
        ("HEAD", None) => Call::new("s3:HeadBucket", &region).on("bucket", bucket_arn.clone()),
        _ => return None,
    };
    Some((call, Some(bucket_arn)))
}

fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&path[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn s3_denied(message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>{}</Message><RequestId>LOCAL</RequestId></Error>",
        xml_escape(message)
    );
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "application/xml")],
        body,
    )
        .into_response()
}

fn cloudfront_denied(message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{}</Message></Error><RequestId>LOCAL</RequestId></ErrorResponse>",
        xml_escape(message)
    );
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/xml")],
        body,
    )
        .into_response()
}

/// Where an authorized request goes, and what authorizes it.
struct Target<'a> {
    client: &'a reqwest::Client,
    upstream: &'a str,
    account: &'a Account,
    stack_id: &'a str,
}

async fn handle(
    target: Target<'_>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Target {
        client,
        upstream,
        account,
        stack_id,
    } = target;
    let key = access_key(&headers);
    let known = key
        .as_ref()
        .is_some_and(|k| account.principals.contains_key(k));
    let mut list_check = None;
    // STS GetCallerIdentity: "No permissions are required to perform this operation" (its API
    // reference); the operator CLI asks it who acts, through the same local endpoint. Told by
    // the signature's scope (signed for sts), never by the body an S3 request could carry.
    let caller_identity = method == Method::POST
        && signed_service(&headers).as_deref() == Some("sts")
        && body.windows(24).any(|w| w == b"Action=GetCallerIdentity");
    let query_service = signed_service(&headers)
        .filter(|s| matches!(s.as_str(), "iam" | "sns" | "cloudformation"))
        .filter(|_| method == Method::POST);
    if known
        && !caller_identity
        && let (Some(key), Some(service)) = (&key, &query_service)
    {
        let region = region(&headers);
        let Some(call) = describe_query(service, &body, &region, &account.id, stack_id) else {
            return query_denied(&format!(
                "the local stack does not authorize this {service} call (only doctor's reads)"
            ));
        };
        match account.authorize(key, &call) {
            Ok(Ok(())) => {}
            Ok(Err(denied)) => return query_denied(&denied.message),
            Err(mismatch) => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the proxy's authorization of a call is wrong: {mismatch}"),
                )
                    .into_response();
            }
        }
    } else if known
        && !caller_identity
        && let Some(key) = &key
    {
        let Some((call, bucket)) = describe(&method, &uri, &headers, &account.id) else {
            let message = format!(
                "the local stack does not authorize {method} {} (no function makes this call)",
                uri.path()
            );
            return s3_denied(&message);
        };
        let cloudfront = call.operation.starts_with("cloudfront:");
        match account.authorize(key, &call) {
            Ok(Ok(())) => {}
            Ok(Err(denied)) if cloudfront => return cloudfront_denied(&denied.message),
            Ok(Err(denied)) => return s3_denied(&denied.message),
            Err(mismatch) => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the proxy's authorization of a call is wrong: {mismatch}"),
                )
                    .into_response();
            }
        }
        if matches!(call.operation.as_str(), "s3:GetObject" | "s3:HeadObject") {
            list_check = bucket.map(|b| (key.clone(), b, call.region.clone()));
        }
    }
    let url = format!(
        "{upstream}{}",
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut request = client.request(method.clone(), &url).body(body);
    for (name, value) in &headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(err) => return (StatusCode::BAD_GATEWAY, format!("moto: {err}")).into_response(),
    };
    let status = answer.status();
    if status == StatusCode::NOT_FOUND
        && let Some((key, bucket, region)) = list_check
    {
        let list = Call::new("s3:ListObjectsV2", &region).on("bucket", bucket);
        if let Ok(Err(_)) = account.authorize(&key, &list) {
            return s3_denied(
                "Access Denied (the caller may not s3:ListBucket, so S3 does not say that the key is missing)",
            );
        }
    }
    let mut response = Response::builder().status(status.as_u16());
    for (name, value) in answer.headers() {
        if name != header::TRANSFER_ENCODING && name != header::CONNECTION {
            response = response.header(name.as_str(), value.as_bytes());
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    response
        .body(Body::from(bytes))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}
