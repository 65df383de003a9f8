//! Execute-step's events from an SQS queue, for the local binary on the AWS backend.
//!
//! Deployed, an EventBridge rule invokes the execute-step function. A machine without
//! Lambda (moto, or a developer's laptop against a real account) routes the same rule
//! to an SQS queue instead (`infra/moto.sh seed` creates both), and this consumer does
//! what Lambda would: it receives each message (the EventBridge event, as the rule
//! delivered it), hands it to execute-step's handler, and deletes it once handled. A
//! retryable failure leaves the message in the queue, so it comes back after its
//! visibility timeout, as Lambda's retries would.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::ports::{BusEvent, EventHandler, HandlerError};

/// Messages handled at once.
const IN_FLIGHT: usize = 32;

/// Takes events from `queue_url` and hands each to `handler`, until the process ends.
/// A queue that does not answer is retried with a pause; it never ends the loop.
pub async fn consume(sqs: aws_sdk_sqs::Client, queue_url: String, handler: Arc<dyn EventHandler>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(error) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "event queue did not answer; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        for message in messages {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let (sqs, queue_url, handler) = (sqs.clone(), queue_url.clone(), Arc::clone(&handler));
            tokio::spawn(async move {
                let done = handle(
                    handler.as_ref(),
                    message.body.as_deref().unwrap_or_default(),
                )
                .await;
                if done
                    && let Some(receipt) = message.receipt_handle
                    && let Err(error) = sqs
                        .delete_message()
                        .queue_url(&queue_url)
                        .receipt_handle(receipt)
                        .send()
                        .await
                {
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "handled event not deleted; it will be delivered again");
                }
                drop(slot);
            });
        }
    }
}

/// Handles one message body. True when the message is done with (handled, or never
/// handleable); false when another delivery could succeed.
async fn handle(handler: &dyn EventHandler, body: &str) -> bool {
    let event: BusEvent = match serde_json::from_str(body) {
        Ok(event) => event,
        Err(error) => {
            tracing::error!(%error, "a queued message is not an EventBridge event; dropped");
            return true;
        }
    };
    match handler.handle(&event).await {
        Ok(_) => true,
        Err(HandlerError::Retryable(reason)) => {
            tracing::warn!(detail_type = %event.detail_type, %reason, "event handler failed; the queue delivers it again");
            false
        }
        Err(error) => {
            tracing::error!(detail_type = %event.detail_type, %error, "event not handled");
            true
        }
    }
}
