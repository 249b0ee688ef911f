//! `status RELEASE --live`: what AWS says now about each resource the records name (the
//! records say what was asked and last seen; AWS's state is the truth).

use crate::regional;
use serde::Serialize;
use shared::aws::appstream::AppStreamAdapter;
use shared::aws::ec2::Ec2Adapter;
use shared::aws::imagebuilder::ImageBuilderAdapter;
use shared::aws::s3::S3Adapter;
use shared::domain::{ImageBuildVersionArn, RegionName, ReleaseId};
use shared::ports::{AppStreamImages, ArtifactStore, ImageExports, ImagePipelines};
use shared::release::{AppStreamRecord, BuildRecord, DistributionRecord, ExportRecord, keys};

/// One resource and its state in AWS now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveState {
    pub step: &'static str,
    pub resource: String,
    pub state: String,
}

/// An Image Builder image's status (and reason), read in its own region.
async fn image_state(config: &aws_config::SdkConfig, arn: &str) -> String {
    let Ok(image) = ImageBuildVersionArn::parse("arn", arn) else {
        return "not an image build version ARN".into();
    };
    let pipelines = ImageBuilderAdapter::new(&regional(config, image.region()));
    match pipelines.get_image(&image).await {
        Ok(info) => match (info.status, info.reason) {
            (Some(status), Some(reason)) => format!("{status} ({reason})"),
            (Some(status), None) => status,
            (None, _) => "no state".into(),
        },
        Err(e) => format!("cannot be read: {e}"),
    }
}

/// Every resource the release's records name, with its state in AWS now.
pub async fn live(
    config: &aws_config::SdkConfig,
    store: &S3Adapter,
    id: &ReleaseId,
) -> Vec<LiveState> {
    let mut states = Vec::new();
    let build: Option<BuildRecord> = store.get_json(&keys::build(id)).await.ok().flatten();
    if let Some(build) = build {
        let state = image_state(config, &build.image_build_version_arn).await;
        states.push(LiveState {
            step: "build",
            resource: build.image_build_version_arn,
            state,
        });
    }
    let distribution: Option<DistributionRecord> =
        store.get_json(&keys::distribution(id)).await.ok().flatten();
    if let Some(arn) = distribution.and_then(|d| d.distributed_image_arn) {
        let state = image_state(config, &arn).await;
        states.push(LiveState {
            step: "distribution",
            resource: arn,
            state,
        });
    }
    let records = store
        .list_keys(&keys::records(id))
        .await
        .unwrap_or_default();
    for key in records
        .iter()
        .filter(|k| keys::file_name(k).starts_with("export-") && k.ends_with(".json"))
    {
        let Some(record) = store.get_json::<ExportRecord>(key).await.ok().flatten() else {
            continue;
        };
        let exports = Ec2Adapter::new(&regional(config, &record.region));
        let state = match exports.describe_export_task(&record.export_task_id).await {
            Ok(Some(task)) => [
                Some(task.status),
                task.progress.map(|p| format!("{p}%")),
                task.status_message,
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", "),
            Ok(None) => "EC2 no longer knows the task".into(),
            Err(e) => format!("cannot be read: {e}"),
        };
        states.push(LiveState {
            step: "export",
            resource: format!("{} ({})", record.export_task_id, record.format.as_str()),
            state,
        });
    }
    let appstream: Option<AppStreamRecord> =
        store.get_json(&keys::appstream(id)).await.ok().flatten();
    if let Some(record) = appstream {
        let Ok(home) = RegionName::parse("source_region", &record.source_region) else {
            return states;
        };
        let destinations: Vec<(RegionName, _)> = record
            .destinations
            .iter()
            .filter_map(|d| {
                Some((
                    RegionName::parse("region", &d.region).ok()?,
                    d.image_name.clone(),
                ))
            })
            .collect();
        let regions: Vec<RegionName> = destinations.iter().map(|(r, _)| r.clone()).collect();
        let images = AppStreamAdapter::new(config, &home, &regions);
        let source = std::iter::once((home.clone(), record.source_image_name.clone()));
        for (region, name) in source.chain(destinations) {
            let state = match images.describe_image(&region, &name).await {
                Ok(Some(image)) => match image.state_reason {
                    Some(reason) => format!("{} ({reason})", image.state),
                    None => image.state,
                },
                Ok(None) => "does not exist".into(),
                Err(e) => format!("cannot be read: {e}"),
            };
            states.push(LiveState {
                step: "appstream",
                resource: format!("{region} {name}"),
                state,
            });
        }
    }
    states
}
