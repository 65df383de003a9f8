//! Event rules: which bus events reach which function.
//!
//! `template.yaml` declares the same rules for EventBridge; the in-process bus routes
//! with these. A test reads the template and checks the two agree.

use crate::ports::{BusEvent, EVENT_SOURCE};

/// A function an event can be routed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// The execute-step function: runs steps for `DataChanged`, `WorkflowTriggered` and
    /// `StepRequested`.
    ExecuteStep,
}

/// One EventBridge rule: `{"source": [source], "detail-type": detail_types}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The rule's event key in template.yaml.
    pub name: &'static str,
    /// The event source the rule matches.
    pub source: &'static str,
    /// The detail-types the rule matches, any of them.
    pub detail_types: &'static [&'static str],
    /// Where matching events go.
    pub target: Target,
}

impl Rule {
    /// Whether the event has the rule's source and one of its detail-types.
    pub fn matches(&self, event: &BusEvent) -> bool {
        event.source == self.source && self.detail_types.contains(&event.detail_type.as_str())
    }
}

/// Every rule, as `template.yaml` declares them too.
pub const RULES: &[Rule] = &[Rule {
    name: "RouteToExecuteStep",
    source: EVENT_SOURCE,
    detail_types: &[
        crate::domain::detail_types::DATA_CHANGED,
        crate::domain::detail_types::WORKFLOW_TRIGGERED,
        crate::domain::detail_types::STEP_REQUESTED,
    ],
    target: Target::ExecuteStep,
}];

/// The targets an event is delivered to (none for events only observers care about,
/// such as IntegrationChanged or RunCompleted).
pub fn targets(event: &BusEvent) -> Vec<Target> {
    RULES
        .iter()
        .filter(|r| r.matches(event))
        .map(|r| r.target)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_and_trigger_events_go_to_execute_step_and_others_nowhere() {
        for dt in ["DataChanged", "WorkflowTriggered", "StepRequested"] {
            let e = BusEvent::new(dt, serde_json::json!({}));
            assert_eq!(targets(&e), vec![Target::ExecuteStep], "{dt}");
        }
        for dt in ["IntegrationChanged", "StepCompleted", "RunCompleted"] {
            assert!(
                targets(&BusEvent::new(dt, serde_json::json!({}))).is_empty(),
                "{dt}"
            );
        }
        let foreign = BusEvent {
            source: "someone.else".into(),
            detail_type: "StepRequested".into(),
            detail: serde_json::json!({}),
        };
        assert!(targets(&foreign).is_empty());
    }
}
