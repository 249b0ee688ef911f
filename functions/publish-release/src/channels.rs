//! A published release goes into its channel (`RELEASE_CHANNEL`, or its pipeline's in
//! `PIPELINE_CHANNELS`) when it is newer than where the channel points; every moved channel is
//! mirrored into its SSM parameters and the catalog ([`shared::channels`]). The scheduled tick
//! mirrors every channel whose move is not mirrored yet (a crash, an operator's CLI that
//! stopped midway, a parameter SSM has not shown yet).

use super::*;
use shared::channels::{self, Mirrored, Published, Target};

impl<T: Ports> Deps<T> {
    /// Moves the release's channel to it (when newer), then mirrors the channel. A mirror
    /// that fails is left to the next tick (the move's marker says it is due): the release is
    /// published either way.
    pub(crate) async fn publish_into_channel(
        &self,
        manifest: &Manifest,
    ) -> Result<(), HandlerError> {
        let channel = self.config.channel_for(manifest.pipeline_arn.as_deref());
        let target = Target::of(manifest).map_err(|e| {
            HandlerError::from_service(
                "reading the manifest's AMIs",
                shared::ServiceError::new(
                    "GetObject",
                    shared::ErrorClass::CorruptRecord,
                    "InvalidManifest",
                    e.to_string(),
                ),
            )
        })?;
        let image = channels::image_of(&target.release_id);
        let now = release::timestamp(self.clock.now());
        match channels::publish(&self.store, channel, target, &now)
            .await
            .map_err(store_err("moving the channel"))?
        {
            Published::Moved(record) => {
                info!(channel = %channel, generation = record.generation, "channel moved");
            }
            Published::Unchanged(record) => {
                info!(channel = %channel, points_at = ?record.release_id, "channel points at a newer release: left alone");
                return Ok(());
            }
        }
        if let Err(err) = self.mirror_channel(&image, channel).await {
            warn!(channel = %channel, error = %err, "mirroring the channel failed; the next tick mirrors it");
        }
        Ok(())
    }

    /// Every channel with a move not mirrored yet. One channel's error does not stop the others.
    pub(crate) async fn mirror_channels(&self) -> Result<usize, ServiceError> {
        let pending = channels::pending(&self.store).await?;
        let mut failed = None;
        for (image, channel) in &pending {
            if let Err(err) = self.mirror_channel(image, channel).await {
                error!(image, channel = %channel, error = %err, "could not mirror the channel");
                failed = Some(err);
            }
        }
        failed.map_or(Ok(pending.len()), Err)
    }

    async fn mirror_channel(
        &self,
        image: &str,
        channel: &shared::domain::ChannelName,
    ) -> Result<(), ServiceError> {
        match channels::mirror(
            &self.store,
            &self.parameters,
            &self.provenance(),
            &self.parameter_space(),
            image,
            channel,
        )
        .await?
        {
            Mirrored::Done { generation } => {
                info!(image, channel = %channel, generation, "channel mirrored");
            }
            Mirrored::Waiting {
                generation,
                regions,
            } => {
                warn!(image, channel = %channel, generation, ?regions, "SSM does not show the channel's AMI yet in these regions; looking again next tick");
            }
            Mirrored::Refused { generation, reason } => {
                warn!(image, channel = %channel, generation, reason, "the channel's record was not mirrored");
            }
        }
        Ok(())
    }
}
