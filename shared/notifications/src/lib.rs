//! Notifications: who is told what about which event ([`plan`], pure), the message templates per
//! language ([`templates`], pure), the channels ([`channels`]: SES e-mail, the Telegram Bot API,
//! SNS SMS), the `notifications` table that makes each message go out once ([`store`]), and the
//! `notify` consumer that ties them together ([`handler`]).

pub mod channels;
pub mod handler;
pub mod plan;
pub mod store;
pub mod templates;

pub use handler::{Channels, Notify, NotifyConfig};
