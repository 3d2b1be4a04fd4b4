//! Consumer of `security-events`, `workflow-events` and `hr-events` (MSK or self-managed Kafka
//! trigger): contracts, completion acts and payment orders as PDFs in S3; payments of signed acts.

// The AWS SDK's futures nest deeper than the default limit allows when laid out.
#![recursion_limit = "256"]

use servicehub_hr::files::DocumentFiles;
use servicehub_hr::generator::DocumentGenerator;

servicehub_platform::consumer_main!(|services| {
    let files = DocumentFiles::from_env().await?;
} DocumentGenerator { services, files: &files });
