//! View models: what the portal templates receive, built from the services' results.

use serde_json::{Value, json};

use crate::domain::{ORGANIZATION_TYPES, Organization, PageRequest};
use crate::services::organizations::OrganizationView;
use crate::services::patients::PatientView;

/// The label of an organisation type (`prov` → `Healthcare Provider`).
pub fn type_label(org_type: &str) -> &str {
    ORGANIZATION_TYPES
        .iter()
        .find(|(k, _)| *k == org_type)
        .map_or(org_type, |(_, v)| *v)
}

/// The organisation types a user may choose (every type but `root`).
pub fn type_choices() -> Value {
    Value::Array(
        ORGANIZATION_TYPES
            .iter()
            .filter(|(k, _)| *k != "root")
            .map(|(k, v)| json!({"value": k, "label": v}))
            .collect(),
    )
}

/// An organisation for templates.
pub fn organization(org: &Organization) -> Value {
    json!({
        "id": org.id,
        "name": org.name,
        "type": org.org_type,
        "type_label": type_label(&org.org_type),
        "part_of": org.part_of,
    })
}

/// An organisation tree node (recursively, with the caller's role).
pub fn tree(node: &OrganizationView) -> Value {
    let mut value = organization(&node.organization);
    if let Some(map) = value.as_object_mut() {
        map.insert("role".into(), json!(node.current_user_role));
        map.insert(
            "children".into(),
            Value::Array(node.children.iter().map(tree).collect()),
        );
    }
    value
}

/// A patient row.
pub fn patient(view: &PatientView) -> Value {
    let p = &view.patient;
    json!({
        "id": p.id,
        "user_id": p.jhe_user_id,
        "identifier": p.identifier,
        "name_family": p.name_family,
        "name_given": p.name_given,
        "birth_date": p.birth_date.to_string(),
        "email": view.email,
        "phone": p.telecom_phone,
        "organizations": view.organizations.iter().map(organization).collect::<Vec<_>>(),
    })
}

/// A query string from pairs (empty values left out), starting with `?` when not empty.
pub fn query_string(pairs: &[(&str, String)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        serializer.append_pair(k, v);
    }
    let text = serializer.finish();
    if text.is_empty() {
        text
    } else {
        format!("?{text}")
    }
}

/// The pager of a list: position, totals and the links to the neighbouring pages, which keep
/// the list's other filters (`params`).
pub fn pager(path: &str, params: &[(&str, String)], request: PageRequest, total: u64) -> Value {
    let pages = total.div_ceil(request.size.max(1)).max(1);
    let link = |page: u64| {
        let mut all: Vec<(&str, String)> = params.to_vec();
        all.push(("page", page.to_string()));
        all.push(("pageSize", request.size.to_string()));
        format!("{path}{}", query_string(&all))
    };
    let first = if total == 0 { 0 } else { request.offset() + 1 };
    let last = (request.offset() + request.size).min(total);
    json!({
        "page": request.page,
        "size": request.size,
        "pages": pages,
        "total": total,
        "first": first,
        "last": last,
        "prev": (request.page > 1).then(|| link(request.page - 1)),
        "next": (request.page < pages).then(|| link(request.page + 1)),
        "sizes": super::PAGE_SIZES,
        "params": params.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Organization;

    #[test]
    fn pager_links_keep_the_filters() {
        let p = pager(
            "/portal/patients/",
            &[("org", "5".into()), ("study", String::new())],
            PageRequest::new(2, 20),
            45,
        );
        assert_eq!(p["pages"], 3);
        assert_eq!(p["first"], 21);
        assert_eq!(p["last"], 40);
        assert_eq!(p["prev"], "/portal/patients/?org=5&page=1&pageSize=20");
        assert_eq!(p["next"], "/portal/patients/?org=5&page=3&pageSize=20");
        let last = pager("/x/", &[], PageRequest::new(3, 20), 45);
        assert_eq!(last["next"], Value::Null);
        assert_eq!(last["last"], 45);
        let empty = pager("/x/", &[], PageRequest::new(1, 20), 0);
        assert_eq!(empty["first"], 0);
        assert_eq!(empty["pages"], 1);
    }

    #[test]
    fn trees_carry_roles_and_type_labels() {
        let node = OrganizationView {
            organization: Organization {
                id: 1,
                name: "Top".into(),
                org_type: "prov".into(),
                part_of: Some(0),
            },
            current_user_role: Some("manager".into()),
            children: vec![OrganizationView {
                organization: Organization {
                    id: 2,
                    name: "Child".into(),
                    org_type: "dept".into(),
                    part_of: Some(1),
                },
                current_user_role: None,
                children: vec![],
            }],
        };
        let v = tree(&node);
        assert_eq!(v["type_label"], "Healthcare Provider");
        assert_eq!(v["role"], "manager");
        assert_eq!(v["children"][0]["name"], "Child");
        assert_eq!(v["children"][0]["type_label"], "Hospital Department");
        assert_eq!(v["children"][0]["role"], Value::Null);
    }

    #[test]
    fn root_is_not_a_choice() {
        let choices = type_choices();
        let values: Vec<&str> = choices
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["value"].as_str().unwrap())
            .collect();
        assert!(!values.contains(&"root"));
        assert!(values.contains(&"prov"));
    }
}
