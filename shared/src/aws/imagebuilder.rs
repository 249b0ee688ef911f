//! EC2 Image Builder adapter (restJson1).

use super::LazyClient;
use super::errors::{classify, missing};
use crate::domain::{ClientToken, ImageBuildVersionArn, ImagePipelineArn};
use crate::error::ErrorClass;
use crate::ports::{
    Distribute, Distributed, ImageFailure, ImageInfo, ImagePipelines, OutputAmi, PipelineImage,
    RegionFailure, Result, StartExecution, StartedExecution,
};
use aws_sdk_imagebuilder::Client;
use aws_sdk_imagebuilder::types::ImageLoggingConfiguration;
use std::collections::HashMap;

/// Image Builder's documented error codes. The SDK retries throttling and 5xx by itself, but not
/// `CallRateLimitExceededException` (HTTP 429) nor `ResourceInUseException`: the handlers treat those as retryable.
pub fn error_class(code: &str) -> ErrorClass {
    match code {
        "CallRateLimitExceededException" | "TooManyRequestsException" => ErrorClass::Throttled,
        "ServiceException" | "ServiceUnavailableException" => ErrorClass::Transient,
        "ResourceInUseException" => ErrorClass::InUse,
        "ResourceNotFoundException" => ErrorClass::NotFound,
        "ResourceAlreadyExistsException" => ErrorClass::AlreadyExists,
        "IdempotentParameterMismatchException" => ErrorClass::IdempotencyMismatch,
        "ServiceQuotaExceededException" => ErrorClass::LimitExceeded,
        "InvalidRequestException"
        | "ClientException"
        | "InvalidParameterException"
        | "InvalidParameterValueException"
        | "InvalidParameterCombinationException"
        | "InvalidVersionNumberException"
        | "InvalidPaginationTokenException" => ErrorClass::Invalid,
        "AccessDeniedException" | "ForbiddenException" => ErrorClass::AccessDenied,
        _ => ErrorClass::Other,
    }
}

#[derive(Debug, Clone)]
pub struct ImageBuilderAdapter {
    client: LazyClient<Client>,
}

impl ImageBuilderAdapter {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: LazyClient::new(config, Client::new),
        }
    }

    pub fn from_client(client: Client) -> Self {
        Self {
            client: LazyClient::ready(client, Client::new),
        }
    }
}

fn to_hash_map<'a>(
    tags: impl Iterator<Item = (&'a String, &'a String)>,
) -> Option<HashMap<String, String>> {
    let map: HashMap<String, String> = tags.map(|(k, v)| (k.clone(), v.clone())).collect();
    (!map.is_empty()).then_some(map)
}

impl ImagePipelines for ImageBuilderAdapter {
    async fn start_pipeline_execution(&self, request: &StartExecution) -> Result<StartedExecution> {
        const OP: &str = "StartImagePipelineExecution";
        let out = self
            .client
            .start_image_pipeline_execution()
            .image_pipeline_arn(request.pipeline.as_str())
            .client_token(request.client_token.as_str())
            .set_tags(to_hash_map(request.tags.iter()))
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        Ok(StartedExecution {
            request_id: out.request_id,
            image_build_version_arn: out.image_build_version_arn,
        })
    }

    async fn get_image(&self, image: &ImageBuildVersionArn) -> Result<ImageInfo> {
        const OP: &str = "GetImage";
        let out = self
            .client
            .get_image()
            .image_build_version_arn(image.as_str())
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        let image = out.image.ok_or_else(|| missing(OP, "image"))?;
        let amis = image
            .output_resources
            .and_then(|r| r.amis)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|ami| {
                Some(OutputAmi {
                    region: ami.region?,
                    image: ami.image?,
                    account_id: ami.account_id,
                    name: ami.name,
                })
            })
            .collect();
        let failure = image
            .state
            .as_ref()
            .and_then(|s| s.failure_context.as_ref())
            .map(failure_context);
        Ok(ImageInfo {
            arn: image.arn.unwrap_or_default(),
            status: image
                .state
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .map(|s| s.as_str().to_owned()),
            reason: image.state.and_then(|s| s.reason),
            failure,
            source_pipeline_arn: image.source_pipeline_arn,
            distribution_configuration_arn: image.distribution_configuration.and_then(|d| d.arn),
            tags: image.tags.unwrap_or_default().into_iter().collect(),
            amis,
        })
    }

    async fn distribute_image(&self, request: &Distribute) -> Result<Distributed> {
        const OP: &str = "DistributeImage";
        let logging = request.log_group.as_ref().map(|group| {
            ImageLoggingConfiguration::builder()
                .log_group_name(group.as_str())
                .build()
        });
        let out = self
            .client
            .distribute_image()
            .source_image(request.source_image.as_str())
            .distribution_configuration_arn(request.distribution_configuration.as_str())
            .execution_role(request.execution_role.as_str())
            .set_logging_configuration(logging)
            .set_tags(to_hash_map(request.tags.iter()))
            .client_token(request.client_token.as_str())
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        Ok(Distributed {
            image_build_version_arn: out.image_build_version_arn,
        })
    }

    async fn list_pipeline_images(
        &self,
        pipeline: &ImagePipelineArn,
    ) -> Result<Vec<PipelineImage>> {
        const OP: &str = "ListImagePipelineImages";
        let mut images = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client
                .list_image_pipeline_images()
                .image_pipeline_arn(pipeline.as_str())
                .max_results(100)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| classify(OP, e, error_class))?;
            images.extend(
                out.image_summary_list
                    .unwrap_or_default()
                    .into_iter()
                    .map(|summary| PipelineImage {
                        arn: summary.arn.unwrap_or_default(),
                        status: summary
                            .state
                            .and_then(|s| s.status)
                            .map(|s| s.as_str().to_owned()),
                        date_created: summary.date_created,
                        tags: summary.tags.unwrap_or_default().into_iter().collect(),
                    }),
            );
            match out.next_token.filter(|t| !t.is_empty()) {
                Some(token) => next = Some(token),
                None => return Ok(images),
            }
        }
    }

    async fn retry_image(
        &self,
        image: &ImageBuildVersionArn,
        client_token: &ClientToken<64>,
    ) -> Result<()> {
        const OP: &str = "RetryImage";
        self.client
            .retry_image()
            .image_build_version_arn(image.as_str())
            .client_token(client_token.as_str())
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        Ok(())
    }
}

fn failure_context(context: &aws_sdk_imagebuilder::types::ImageFailureContext) -> ImageFailure {
    let distribution = context.distribution_failure.as_ref();
    ImageFailure {
        stage: context.image_status.as_ref().map(|s| s.as_str().to_owned()),
        failed_step: context.failed_step.clone(),
        message: distribution
            .and_then(|d| d.error_message.clone())
            .or_else(|| {
                context
                    .component_failure
                    .as_ref()
                    .and_then(|c| c.error_message.clone())
            }),
        regions: distribution
            .and_then(|d| d.region_failures.as_ref())
            .map(|regions| {
                regions
                    .iter()
                    .map(|r| RegionFailure {
                        region: r.region.clone().unwrap_or_default(),
                        status: r
                            .status
                            .as_ref()
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_default(),
                        step: r
                            .image_configuration_step
                            .as_ref()
                            .map(|s| s.as_str().to_owned()),
                        message: r.error_message.clone(),
                        account_id: r.target_account_id.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}
