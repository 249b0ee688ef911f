//! GetImage's `imageBuildVersionArn` (the model's `ImageVersionArnOrBuildVersionArn`): "You can
//! specify a full build version ARN, or a version ARN with or without wildcards (x.x.x, 1.x.x,
//! or 1.0.x). A version or wildcard ARN resolves to the latest matching build version that has
//! reached AVAILABLE status. [...] To get an image in any other state, such as a failed or
//! in-progress build, specify the full build version ARN." (GetImage, API reference.)

use crate::world::{Image, World};
use axum::response::Response;
use regex_lite::Regex;

/// `ImageVersionArnOrBuildVersionArn` of the model.
const VERSION_OR_BUILD_ARN: &str = r"^arn:aws[^:]*:imagebuilder:[^:]+:(?:[0-9]{12}|aws(?:-[a-z-]+)?):image/[a-z0-9-_]+/(?:(?:([0-9]+|x)\.([0-9]+|x)\.([0-9]+|x))|(?:[0-9]+\.[0-9]+\.[0-9]+/[0-9]+))$";

/// The image `arn` names: `Ok(None)` when none does, a validation error when `arn` breaks the
/// model's pattern.
pub(crate) fn resolve<'a>(world: &'a World, arn: &str) -> Result<Option<&'a Image>, Response> {
    if !Regex::new(VERSION_OR_BUILD_ARN).is_ok_and(|re| re.is_match(arn)) {
        return Err(crate::imagebuilder::invalid(format!(
            "imageBuildVersionArn must match {VERSION_OR_BUILD_ARN}"
        )));
    }
    // `…:image/<name>/<version>/<build>` is one build; `…:image/<name>/<version>` a version.
    let resource = arn.split_once(":image/").map_or("", |(_, r)| r);
    let Some((base, version)) = arn
        .rsplit_once('/')
        .filter(|_| resource.matches('/').count() == 1)
    else {
        return Ok(world.images.get(arn));
    };
    let wanted: Vec<&str> = version.split('.').collect();
    let number = |part: &str| part.parse::<u64>().unwrap_or(0);
    Ok(world
        .images
        .values()
        .filter(|image| image.status == "AVAILABLE")
        .filter_map(|image| {
            let (image_base, build) = image.arn.rsplit_once('/')?;
            let (image_base, image_version) = image_base.rsplit_once('/')?;
            let parts: Vec<&str> = image_version.split('.').collect();
            let fits = image_base == base
                && parts.len() == 3
                && wanted.iter().zip(&parts).all(|(w, p)| *w == "x" || w == p);
            fits.then(|| {
                let key: Vec<u64> = parts
                    .iter()
                    .map(|p| number(p))
                    .chain([number(build)])
                    .collect();
                (key, image)
            })
        })
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, image)| image))
}
