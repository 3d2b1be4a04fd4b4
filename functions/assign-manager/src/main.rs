//! Consumer of `request-events` (MSK or self-managed Kafka trigger): assigns a manager to each new request.

use servicehub_requests::assign_manager::AssignManager;

servicehub_platform::consumer_main!(|services| AssignManager { services });
