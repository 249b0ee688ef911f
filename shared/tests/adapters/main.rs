//! Adapter tests: each adapter drives a real SDK client whose transport is replaced by
//! `aws-smithy-mocks` rules, so the exact request fields and the handling of each documented
//! error code are checked without a network.

use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use shared::aws::{
    appstream::AppStreamAdapter, cloudfront::CloudFrontAdapter, ec2::Ec2Adapter,
    imagebuilder::ImageBuilderAdapter, s3::S3Adapter,
};
use shared::domain::*;
use shared::error::ErrorClass;
use shared::ports::*;
use std::collections::{BTreeMap, HashMap};

fn meta(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message(format!("{code} from the mock"))
        .build()
}

const PIPELINE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden";
const IMAGE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1";

mod appstream;
mod ec2;
mod eventbridge;
mod imagebuilder;
mod kms;
mod remaining_operations;
mod s3_and_cloudfront;
