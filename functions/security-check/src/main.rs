//! Consumer of `workflow-events` (MSK or self-managed Kafka trigger): checks every contractor
//! assignment and reverts those the contractor may not hold.

use servicehub_contractors::assignment_check::AssignmentCheck;

servicehub_platform::consumer_main!(|services| AssignmentCheck { services });
