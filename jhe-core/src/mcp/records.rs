//! The shapes tools answer with (mcp.md §4): observation records (full and slim), patients,
//! studies and the paging envelope. Ids are strings, as in the original MCP server.

use serde_json::{Map, Value, json};

use crate::domain::{CodeableConcept, Observation, Patient};
use crate::fhir::datetime::format_instant;
use crate::services::studies::StudyView;

/// The paging envelope: `{"total","page","page_size","returned","has_more","<items_key>"}`,
/// `has_more` = `page * page_size < total`.
pub fn envelope(
    total: u64,
    page: u64,
    page_size: u64,
    items_key: &str,
    items: Vec<Value>,
) -> Value {
    let mut out = Map::new();
    out.insert("total".into(), json!(total));
    out.insert("page".into(), json!(page));
    out.insert("page_size".into(), json!(page_size));
    out.insert("returned".into(), json!(items.len()));
    out.insert(
        "has_more".into(),
        json!(page.saturating_mul(page_size) < total),
    );
    out.insert(items_key.into(), Value::Array(items));
    Value::Object(out)
}

/// A study: `{"study_id","name","description","organization_id","organization_name"}`.
pub fn study(view: &StudyView) -> Value {
    json!({
        "study_id": view.study.id.to_string(),
        "name": view.study.name,
        "description": view.study.description,
        "organization_id": view.organization.id.to_string(),
        "organization_name": view.organization.name,
    })
}

/// The decoded `body` of an Open mHealth data point, `None` when the payload is not such JSON.
pub fn omh_body(observation: &Observation) -> Option<Value> {
    serde_json::from_str::<Value>(&observation.value_attachment_data)
        .ok()?
        .get("body")
        .cloned()
}

fn text_at(value: Option<&Value>, path: &[&str]) -> Option<String> {
    let mut at = value?;
    for key in path {
        at = at.get(*key)?;
    }
    at.as_str().map(str::to_string)
}

/// When the observation took place: the body's `effective_time_frame.date_time`, else its
/// `time_interval.start_date_time`, else `end_date_time` (as written in the payload), else the
/// stored effective start.
pub fn effective_at(body: Option<&Value>, observation: &Observation) -> Option<String> {
    text_at(body, &["effective_time_frame", "date_time"])
        .or_else(|| {
            text_at(
                body,
                &["effective_time_frame", "time_interval", "start_date_time"],
            )
        })
        .or_else(|| {
            text_at(
                body,
                &["effective_time_frame", "time_interval", "end_date_time"],
            )
        })
        .or_else(|| observation.effective_start.map(format_instant))
}

/// The first `{"value", "unit"}` object in the body (depth first, skipping
/// `effective_time_frame`), else the body's own `value`/`unit`; nothing for multi-component
/// bodies (blood pressure).
pub fn value_and_unit(body: Option<&Value>) -> (Value, Value) {
    let Some(Value::Object(map)) = body else {
        return (Value::Null, Value::Null);
    };
    if map.contains_key("systolic_blood_pressure") || map.contains_key("diastolic_blood_pressure") {
        return (Value::Null, Value::Null);
    }
    fn find(map: &Map<String, Value>) -> Option<(Value, Value)> {
        for (key, value) in map {
            if key == "effective_time_frame" {
                continue;
            }
            if let Value::Object(inner) = value {
                if let (Some(v), Some(u)) = (inner.get("value"), inner.get("unit")) {
                    return Some((v.clone(), u.clone()));
                }
                if let Some(found) = find(inner) {
                    return Some(found);
                }
            }
        }
        None
    }
    find(map).unwrap_or_else(|| {
        (
            map.get("value").cloned().unwrap_or(Value::Null),
            map.get("unit").cloned().unwrap_or(Value::Null),
        )
    })
}

/// The label of a data type: its display text, else its code.
pub fn type_label(concept: &CodeableConcept) -> String {
    if concept.text.trim().is_empty() {
        concept.coding_code.clone()
    } else {
        concept.text.clone()
    }
}

/// A full record: `{observation_id, patient_id, code, code_system, code_display, effective_at,
/// omh_body}`.
pub fn full_observation(observation: &Observation, concept: &CodeableConcept) -> Value {
    let body = omh_body(observation);
    json!({
        "observation_id": observation.id.to_string(),
        "patient_id": observation.subject_patient_id.to_string(),
        "code": concept.coding_code,
        "code_system": concept.coding_system,
        "code_display": concept.text,
        "effective_at": effective_at(body.as_ref(), observation),
        "omh_body": body,
    })
}

/// A slim record: `{observation_id, patient_id, type, effective_at, value, unit}`.
pub fn slim_observation(observation: &Observation, concept: &CodeableConcept) -> Value {
    let body = omh_body(observation);
    let (value, unit) = value_and_unit(body.as_ref());
    json!({
        "observation_id": observation.id.to_string(),
        "patient_id": observation.subject_patient_id.to_string(),
        "type": type_label(concept),
        "effective_at": effective_at(body.as_ref(), observation),
        "value": value,
        "unit": unit,
    })
}

/// Demographics: `{"patient_id","given_name","family_name","birth_date"}`.
pub fn demographics(patient: &Patient) -> Value {
    json!({
        "patient_id": patient.id.to_string(),
        "given_name": patient.name_given,
        "family_name": patient.name_family,
        "birth_date": patient.birth_date.format("%Y-%m-%d").to_string(),
    })
}

/// A search hit: demographics plus `phone` and `email`.
pub fn patient_hit(patient: &Patient, email: Option<&str>) -> Value {
    let mut out = demographics(patient);
    if let Some(map) = out.as_object_mut() {
        map.insert("phone".into(), json!(patient.telecom_phone));
        map.insert("email".into(), json!(email));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_and_unit_rules() {
        let hr = json!({"heart_rate": {"value": 62, "unit": "beats/min"},
            "effective_time_frame": {"date_time": "2024-01-01T00:00:00Z"}});
        assert_eq!(value_and_unit(Some(&hr)), (json!(62), json!("beats/min")));
        let bp = json!({"systolic_blood_pressure": {"value": 120, "unit": "mmHg"},
            "diastolic_blood_pressure": {"value": 80, "unit": "mmHg"}});
        assert_eq!(value_and_unit(Some(&bp)), (Value::Null, Value::Null));
        let flat = json!({"value": 3, "unit": "x"});
        assert_eq!(value_and_unit(Some(&flat)), (json!(3), json!("x")));
        assert_eq!(value_and_unit(None), (Value::Null, Value::Null));
    }

    #[test]
    fn envelope_has_more() {
        let e = envelope(5, 2, 2, "items", vec![json!(1), json!(2)]);
        assert_eq!(
            e,
            json!({"total": 5, "page": 2, "page_size": 2, "returned": 2, "has_more": true, "items": [1, 2]})
        );
        assert_eq!(envelope(4, 2, 2, "items", vec![])["has_more"], json!(false));
    }
}
