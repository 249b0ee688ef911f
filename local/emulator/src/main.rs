//! `emulator`: runs the local AWS emulator on its own (for `cargo lambda invoke` against single
//! functions). Prints its endpoint, then every event it emits as one JSON line.

use clap::Parser;
use emulator::{Config, Emulator};

#[derive(Parser)]
#[command(about = "Local emulator of EC2 Image Builder, EC2 image export and AppStream 2.0")]
struct Args {
    /// Port on 127.0.0.1 (0 = a free one).
    #[arg(long, default_value_t = 4599)]
    port: u16,
    /// Milliseconds one lifecycle step takes.
    #[arg(long, default_value_t = 1000)]
    step_ms: u64,
    /// moto's S3 endpoint, where exported disks are written.
    #[arg(long)]
    s3_endpoint: Option<String>,
    /// AppStream images that exist at start, as REGION/NAME (repeatable).
    #[arg(long = "appstream-image")]
    appstream_images: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = Config::demo();
    config.step = std::time::Duration::from_millis(args.step_ms);
    config.s3_endpoint = args.s3_endpoint;
    for image in args.appstream_images {
        let (region, name) = image
            .split_once('/')
            .ok_or_else(|| anyhow::anyhow!("--appstream-image wants REGION/NAME, got {image}"))?;
        config.appstream_images.push((
            region.to_owned(),
            name.to_owned(),
            vec![("team".into(), "platform".into())],
        ));
    }
    let (emulator, mut events) = Emulator::start(config, args.port).await?;
    println!("emulator listening on {}", emulator.endpoint());
    println!(
        "export AWS_ENDPOINT_URL_IMAGEBUILDER={0} AWS_ENDPOINT_URL_EC2={0} AWS_ENDPOINT_URL_APPSTREAM={0}",
        emulator.endpoint()
    );
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => println!("{event}"),
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(())
}
