//! The Open WebUI wire format: `ModelForm` bodies read into core changes, models rendered as
//! Open WebUI model objects.

use modelgate_core::{
    Field, FieldSet, Grant, JsonMap, MapChange, Model, ModelChange, ModelView, Permission,
    PrincipalKind,
};
use modelgate_http::input::{Fields, Issue, IssueKind, Loc, Opt, pydantic_errors};
use serde_json::{Value, json};

/// The dialect name: also the namespace of its keys in `extra`.
pub const DIALECT: &str = "openwebui";
/// What Open WebUI shows for a model without its own picture.
pub const DEFAULT_PROFILE_IMAGE: &str = "/static/favicon.png";
const PROFILE_IMAGE_URL: &str = "profile_image_url";
const TAGS: &str = "tags";
/// The principal id of the public wildcard grant (`user` / `*` / `read`).
const EVERYONE: &str = "*";

/// How strictly a model body is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Create and update: `id`, `name`, `params` and `meta` are required; an absent
    /// `is_active` reads as `None` (create defaults it to `true`, update keeps the stored value).
    Full,
    /// An item of an import: only `id` is required; `name`, `is_active`, `base_model_id` and
    /// `access_grants` keep their stored values when absent, `meta` and `params` read as `{}`.
    Import,
}

/// `access_grants` as sent: the explicit grants and whether the public wildcard was among them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GrantsIn {
    pub grants: Vec<Grant>,
    pub public: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetaIn {
    pub description: Option<String>,
    pub capabilities: Option<JsonMap>,
    pub tags: Vec<String>,
    /// Every other `meta` key (profile_image_url, suggestion_prompts, knowledge…), verbatim.
    pub extra: JsonMap,
}

/// A model body as create, update and import send it.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelForm {
    pub id: String,
    pub name: Option<String>,
    pub base_model_id: Opt<String>,
    pub params: JsonMap,
    pub meta: MetaIn,
    /// `None` when absent or null: grants are left alone.
    pub grants: Option<GrantsIn>,
    /// `None` when absent: the stored value is kept.
    pub is_active: Option<bool>,
}

fn key(name: &str) -> Loc {
    Loc::Key(name.to_owned())
}

/// A `meta`/`params` object: pydantic reports these as models, not plain dicts.
fn read_model_object(f: &mut Fields<'_>, body: &Value, name: &str, mode: Mode) -> Option<JsonMap> {
    match f.raw(name) {
        Opt::Value(Value::Object(map)) => Some(map.clone()),
        Opt::Absent if mode == Mode::Import => Some(JsonMap::new()),
        Opt::Absent => {
            f.issue(name, IssueKind::Missing, body.clone());
            None
        }
        Opt::Null => {
            f.issue(name, IssueKind::DictType, Value::Null);
            None
        }
        Opt::Value(other) => {
            f.issue(name, IssueKind::DictType, other.clone());
            None
        }
    }
}

/// Tag names from `meta.tags`: a list of `{"name": …}` objects (what Open WebUI writes) or of
/// plain strings. Anything else is a 422 naming it (`None`): Open WebUI stores any shape, but it
/// then answers a `meta` that breaks its own schema.
fn read_tags(f: &mut Fields<'_>, value: &Value) -> Option<Vec<String>> {
    let tags = [key(TAGS)];
    let Some(items) = value.as_array() else {
        f.nested_issue("meta", &tags, IssueKind::ListType, value.clone());
        return None;
    };
    let mut names = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let at = |rest: &[Loc]| [&tags[..], &[Loc::Index(i)], rest].concat();
        let problem = match item {
            Value::String(name) => {
                names.push(name.clone());
                continue;
            }
            Value::Object(tag) => match tag.get("name") {
                Some(Value::String(name)) => {
                    names.push(name.clone());
                    continue;
                }
                Some(other) => (at(&[key("name")]), IssueKind::StringType, other.clone()),
                None => (at(&[key("name")]), IssueKind::Missing, item.clone()),
            },
            other => {
                let message = "a tag is an object with a string `name`, or a string".to_owned();
                (at(&[]), IssueKind::Value { message }, other.clone())
            }
        };
        ok = false;
        let (loc, kind, input) = problem;
        f.nested_issue("meta", &loc, kind, input);
    }
    ok.then_some(names)
}

fn read_meta(f: &mut Fields<'_>, meta: &JsonMap) -> MetaIn {
    let mut out = MetaIn::default();
    let nested = |f: &mut Fields<'_>, name: &str, kind: IssueKind, input: &Value| {
        f.nested_issue("meta", &[key(name)], kind, input.clone());
    };
    // Declared fields first, in pydantic's order, then the free-form rest.
    match meta.get(PROFILE_IMAGE_URL) {
        Some(v @ (Value::Null | Value::String(_))) => {
            out.extra.insert(PROFILE_IMAGE_URL.to_owned(), v.clone());
        }
        Some(other) => nested(f, PROFILE_IMAGE_URL, IssueKind::StringType, other),
        None => {}
    }
    match meta.get("description") {
        Some(Value::String(s)) => out.description = Some(s.clone()),
        Some(Value::Null) | None => {}
        Some(other) => nested(f, "description", IssueKind::StringType, other),
    }
    match meta.get("capabilities") {
        Some(Value::Object(caps)) => out.capabilities = Some(caps.clone()),
        Some(Value::Null) | None => {}
        Some(other) => nested(f, "capabilities", IssueKind::DictType, other),
    }
    for (name, value) in meta {
        match name.as_str() {
            PROFILE_IMAGE_URL | "description" | "capabilities" => {}
            // `null` is no tags.
            TAGS if value.is_null() => {}
            TAGS => match read_tags(f, value) {
                Some(names) if !names.is_empty() => out.tags = names,
                // An empty list is kept as sent, so it reads back the same.
                Some(_) => {
                    out.extra.insert(name.clone(), value.clone());
                }
                None => {}
            },
            _ => {
                out.extra.insert(name.clone(), value.clone());
            }
        }
    }
    out
}

/// One text key of a grant, read under either spelling (`principal_*` wins when both are sent).
/// Records an issue, under the spelling the grant uses, when it is missing or not a string.
fn grant_text(
    f: &mut Fields<'_>,
    at: &[Loc],
    item: &JsonMap,
    keys: &[&str],
) -> Option<(String, String)> {
    let Some((name, value)) = keys.iter().find_map(|k| item.get(*k).map(|v| (*k, v))) else {
        grant_issue(f, at, keys[0], IssueKind::Missing, Value::Object(item.clone()));
        return None;
    };
    match value {
        Value::String(text) => Some((name.to_owned(), text.clone())),
        other => {
            grant_issue(f, at, name, IssueKind::StringType, other.clone());
            None
        }
    }
}

/// An issue at key `name` of the grant at `at` (`[list key, index]`, below the body).
fn grant_issue(f: &mut Fields<'_>, at: &[Loc], name: &str, kind: IssueKind, input: Value) {
    if let [Loc::Key(list), rest @ ..] = at {
        f.nested_issue(list, &[rest, &[key(name)]].concat(), kind, input);
    }
}

/// Reads grant `i`. Accepts `principal_*` (0.8+) and `access_*` (the seeds) keys. A grant
/// modelgate cannot store (another type or permission, a missing or empty id) is a 422 naming it:
/// upstream drops such grants silently, so a typo (`"Write"`) replaced every grant by nothing.
fn read_grant(f: &mut Fields<'_>, at: &[Loc], item: &JsonMap, out: &mut GrantsIn) -> bool {
    let seeds_spelling = ["principal_type", "principal_id"].iter().all(|k| !item.contains_key(*k))
        && ["access_type", "access_id"].iter().any(|k| item.contains_key(*k));
    let keys = |what: &'static str| -> [&'static str; 2] {
        let (principal, access) = match what {
            "type" => ("principal_type", "access_type"),
            _ => ("principal_id", "access_id"),
        };
        if seeds_spelling { [access, principal] } else { [principal, access] }
    };
    let refuse = |f: &mut Fields<'_>, name: &str, kind: IssueKind, text: String| {
        grant_issue(f, at, name, kind, Value::String(text));
    };
    let kind = grant_text(f, at, item, &keys("type")).and_then(|(name, text)| {
        let kind = PrincipalKind::parse(&text);
        if kind.is_none() {
            let expected = vec!["user".into(), "group".into()];
            refuse(f, &name, IssueKind::Choice { expected }, text);
        }
        kind
    });
    let id = grant_text(f, at, item, &keys("id")).and_then(|(name, text)| {
        if text.is_empty() {
            refuse(f, &name, IssueKind::StringTooShort { min: 1 }, text);
            return None;
        }
        Some(text)
    });
    let permission = grant_text(f, at, item, &["permission"]).and_then(|(name, text)| {
        let permission = Permission::parse(&text);
        if permission.is_none() {
            let expected = vec!["read".into(), "write".into()];
            refuse(f, &name, IssueKind::Choice { expected }, text);
        }
        permission
    });
    let (Some(kind), Some(id), Some(permission)) = (kind, id, permission) else { return false };
    if kind == PrincipalKind::User && id == EVERYONE {
        // modelgate has one kind of sharing with everyone: public read.
        out.public = true;
    } else {
        out.grants.push(Grant::new(kind, id, permission));
    }
    true
}

/// Reads `access_grants` (a list of grant objects) from `f`; `None` when absent or null, or when
/// any grant is malformed (each one is an issue in `f`), so nothing is written.
pub fn read_grants(f: &mut Fields<'_>, name: &str) -> Option<GrantsIn> {
    let items = f.list(name).value()?;
    let mut out = GrantsIn::default();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        ok &= match item.as_object() {
            Some(grant) => read_grant(f, &[key(name), Loc::Index(i)], grant, &mut out),
            None => {
                f.nested_issue(name, &[Loc::Index(i)], IssueKind::DictType, item.clone());
                false
            }
        };
    }
    ok.then_some(out)
}

/// Reads a `ModelForm` body located at `base` (`["body"]`, or an import item's location).
pub fn read_model_form(body: &Value, base: &[Loc], mode: Mode) -> Result<ModelForm, Vec<Issue>> {
    let mut f = Fields::new(body, base);
    if !f.is_object() {
        return Err(f.finish().err().unwrap_or_default());
    }
    // Fields in ModelForm's declaration order, so errors come out in pydantic's order.
    let id = f.required_string("id");
    let base_model_id = f.string("base_model_id");
    let name = match mode {
        Mode::Full => f.required_string("name"),
        Mode::Import => match f.string("name") {
            Opt::Null => {
                f.issue("name", IssueKind::Null, Value::Null);
                None
            }
            value => value.value(),
        },
    };
    let meta = read_model_object(&mut f, body, "meta", mode).map(|m| read_meta(&mut f, &m));
    let params = read_model_object(&mut f, body, "params", mode);
    let grants = read_grants(&mut f, "access_grants");
    let is_active = match f.bool("is_active") {
        Opt::Value(b) => Some(b),
        Opt::Null => {
            f.issue("is_active", IssueKind::BoolType, Value::Null);
            None
        }
        Opt::Absent => None,
    };
    f.finish()?;
    match (id, meta, params) {
        (Some(id), Some(meta), Some(params)) => Ok(ModelForm {
            id,
            name,
            base_model_id,
            params,
            meta,
            grants,
            // Absent stays `None` in every mode: an update then keeps the stored state (upstream
            // no longer re-enables a disabled model), and create supplies its own default.
            is_active,
        }),
        // Every missing piece was recorded as an issue above.
        _ => Err(Vec::new()),
    }
}

/// Applies `grants` to a change and its view. A public grant the caller may not give is dropped
/// (as upstream drops it) by leaving `public` as it is: an already public model stays public, a
/// private one stays private.
pub fn set_grants(
    view: &mut FieldSet,
    change: &mut ModelChange,
    grants: GrantsIn,
    may_share_public: bool,
) {
    *view = view.with(Field::Grants);
    change.grants = Some(grants.grants);
    if !grants.public || may_share_public {
        *view = view.with(Field::Public);
        change.public = Some(grants.public);
    }
}

impl ModelForm {
    /// The Open WebUI view this body replaces, and the change that replaces it.
    pub fn into_change(self, may_share_public: bool) -> (String, FieldSet, ModelChange) {
        let ModelForm { id, name, base_model_id, params, meta, grants, is_active } = self;
        // meta is replaced as a whole, like params.
        let mut view = FieldSet::of(&[
            Field::Description,
            Field::Capabilities,
            Field::Tags,
            Field::Extra,
            Field::Params,
        ]);
        let extra = (!meta.extra.is_empty()).then_some(meta.extra);
        let mut change = ModelChange {
            description: Some(meta.description),
            capabilities: Some(MapChange::Set(meta.capabilities)),
            tags: Some(meta.tags),
            extra: Some(MapChange::Set(extra)),
            params: Some(MapChange::Set(Some(params))),
            ..ModelChange::default()
        };
        if let Some(name) = name {
            view = view.with(Field::DisplayName);
            change.display_name = Some(Some(name));
        }
        if let Some(active) = is_active {
            view = view.with(Field::IsActive);
            change.is_active = Some(active);
        }
        // The sheet: base_model_id is kept when absent.
        if let Some(base) = base_model_id.into_patch() {
            view = view.with(Field::BaseModel);
            change.base_model = Some(base);
        }
        if let Some(grants) = grants {
            set_grants(&mut view, &mut change, grants, may_share_public);
        }
        (id, view, change)
    }
}

/// A 422 body in FastAPI's shape. `meta` and `params` are pydantic models upstream, and the body
/// itself is one, so their type errors carry the model wording.
pub fn pydantic_body(issues: &[Issue]) -> Value {
    let mut rendered = pydantic_errors(issues);
    let errors = rendered.get_mut("detail").and_then(Value::as_array_mut);
    for (error, issue) in errors.into_iter().flatten().zip(issues) {
        if issue.kind != IssueKind::DictType {
            continue;
        }
        let class = match issue.loc.as_slice() {
            [Loc::Key(b)] if b == "body" => None,
            [.., Loc::Key(last)] if last == "meta" => Some("ModelMeta"),
            [.., Loc::Key(last)] if last == "params" => Some("ModelParams"),
            _ => continue,
        };
        let Some(error) = error.as_object_mut() else { continue };
        match class {
            Some(class) => {
                error.insert("type".into(), json!("model_type"));
                error.insert(
                    "msg".into(),
                    json!(format!("Input should be a valid dictionary or instance of {class}")),
                );
                error.insert("ctx".into(), json!({ "class_name": class }));
            }
            None => {
                error.insert("type".into(), json!("model_attributes_type"));
                error.insert(
                    "msg".into(),
                    json!("Input should be a valid dictionary or object to extract fields from"),
                );
            }
        }
    }
    rendered
}

// ---- rendering ----

fn grant_json(kind: PrincipalKind, id: &str, permission: Permission) -> Value {
    // Both key pairs: the seeds' clients read access_*, Open WebUI 0.8+ reads principal_*.
    json!({
        "access_type": kind.as_str(),
        "access_id": id,
        "principal_type": kind.as_str(),
        "principal_id": id,
        "permission": permission.as_str(),
    })
}

fn grants_json(model: &Model) -> Value {
    let mut grants: Vec<Value> = model
        .fields
        .grants
        .iter()
        .map(|g| grant_json(g.kind, &g.principal_id, g.permission))
        .collect();
    // Catalog models are readable by everyone, which Open WebUI spells as the public grant.
    if model.fields.public || model.is_builtin() {
        grants.push(grant_json(PrincipalKind::User, EVERYONE, Permission::Read));
    }
    Value::Array(grants)
}

fn meta_json(model: &Model) -> Value {
    let fields = &model.fields;
    let extra = fields.extra_for(DIALECT);
    let mut meta = JsonMap::new();
    meta.insert(
        PROFILE_IMAGE_URL.into(),
        extra.get(PROFILE_IMAGE_URL).cloned().unwrap_or_else(|| json!(DEFAULT_PROFILE_IMAGE)),
    );
    meta.insert("description".into(), json!(fields.description));
    meta.insert("capabilities".into(), json!(fields.capabilities));
    for (name, value) in &extra {
        if name != PROFILE_IMAGE_URL && name != TAGS {
            meta.insert(name.clone(), value.clone());
        }
    }
    if !fields.tags.is_empty() {
        let tags: Vec<Value> = fields.tags.iter().map(|t| json!({ "name": t })).collect();
        meta.insert(TAGS.into(), Value::Array(tags));
    } else if let Some(tags) = extra.get(TAGS) {
        meta.insert(TAGS.into(), tags.clone());
    }
    Value::Object(meta)
}

/// A model as Open WebUI's `ModelModel`. Catalog models have no owner: their `user_id` is "".
pub fn model_json(view: &ModelView) -> JsonMap {
    let model = &view.model;
    let fields = &model.fields;
    let mut out = JsonMap::new();
    out.insert("id".into(), json!(model.key));
    out.insert("user_id".into(), json!(model.owner_id.as_deref().unwrap_or("")));
    out.insert("base_model_id".into(), json!(fields.base_model));
    // Models created elsewhere may have no display name; Open WebUI needs a string.
    out.insert("name".into(), json!(fields.display_name.as_deref().unwrap_or(&model.key)));
    out.insert("params".into(), Value::Object(fields.params.clone()));
    out.insert("meta".into(), meta_json(model));
    out.insert("access_grants".into(), grants_json(model));
    out.insert("is_active".into(), json!(fields.is_active));
    out.insert("created_at".into(), json!(model.created_at.timestamp()));
    out.insert("updated_at".into(), json!(model.updated_at.timestamp()));
    out
}

/// A model with the caller's `write_access`, as the list and get endpoints return it.
pub fn model_access_json(view: &ModelView) -> Value {
    let mut out = model_json(view);
    out.insert("write_access".into(), json!(view.rights.write));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Vec<Loc> {
        vec![key("body")]
    }

    #[test]
    fn reads_a_full_form() {
        let value = json!({
            "id": "m", "name": "M", "base_model_id": "gpt-4", "params": {"temperature": 0.7},
            "meta": {"description": "d", "capabilities": {"vision": true}, "tags": [{"name": "a"}],
                     "suggestion_prompts": null},
            "access_grants": [
                {"access_type": "group", "access_id": "dev", "permission": "read"},
                {"principal_type": "user", "principal_id": "*", "permission": "read"}
            ]
        });
        let form = read_model_form(&value, &body(), Mode::Full).unwrap();
        assert_eq!(form.name.as_deref(), Some("M"));
        assert_eq!(form.is_active, None, "absent is_active is left to the caller");
        assert_eq!(form.meta.tags, vec!["a".to_owned()]);
        assert_eq!(
            form.meta.extra,
            json!({"suggestion_prompts": null}).as_object().cloned().unwrap()
        );
        let grants = form.grants.clone().unwrap();
        assert!(grants.public);
        assert_eq!(grants.grants, vec![Grant::new(PrincipalKind::Group, "dev", Permission::Read)]);
        let (_, view, change) = form.clone().into_change(false);
        assert!(view.contains(Field::Grants) && !view.contains(Field::Public));
        assert_eq!(change.public, None);
        let (_, view, change) = form.into_change(true);
        assert!(view.contains(Field::Public));
        assert_eq!(change.public, Some(true));
    }

    #[test]
    fn validation_errors_follow_pydantic() {
        let value = json!({"id": 5, "meta": "x", "params": null, "is_active": "maybe"});
        let issues = read_model_form(&value, &body(), Mode::Full).unwrap_err();
        let rendered = pydantic_body(&issues);
        let types: Vec<_> = rendered["detail"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["type"].as_str().unwrap().to_owned(), e["loc"].clone()))
            .collect();
        assert_eq!(
            types,
            vec![
                ("string_type".to_owned(), json!(["body", "id"])),
                ("missing".to_owned(), json!(["body", "name"])),
                ("model_type".to_owned(), json!(["body", "meta"])),
                ("model_type".to_owned(), json!(["body", "params"])),
                ("bool_parsing".to_owned(), json!(["body", "is_active"])),
            ]
        );
    }

    fn issues_of(value: Value) -> Value {
        let issues = read_model_form(&value, &body(), Mode::Full).unwrap_err();
        pydantic_body(&issues)["detail"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| json!([e["type"], e["loc"], e["input"]]))
            .collect()
    }

    #[test]
    fn a_malformed_grant_is_named_not_dropped() {
        let form = |grants: Value| json!({"id": "m", "name": "M", "params": {}, "meta": {}, "access_grants": grants});
        assert_eq!(
            issues_of(form(json!([
                {"principal_type": "user", "principal_id": "bob", "permission": "read"},
                {"principal_type": "user", "principal_id": "bob", "permission": "Write"},
                {"access_type": "robot", "access_id": "", "permission": 1},
                {},
                {"principal_type": null, "access_id": 7, "permission": "root"},
                "x"
            ]))),
            json!([
                ["literal_error", ["body", "access_grants", 1, "permission"], "Write"],
                ["literal_error", ["body", "access_grants", 2, "access_type"], "robot"],
                ["string_too_short", ["body", "access_grants", 2, "access_id"], ""],
                ["string_type", ["body", "access_grants", 2, "permission"], 1],
                ["missing", ["body", "access_grants", 3, "principal_type"], {}],
                ["missing", ["body", "access_grants", 3, "principal_id"], {}],
                ["missing", ["body", "access_grants", 3, "permission"], {}],
                ["string_type", ["body", "access_grants", 4, "principal_type"], null],
                ["string_type", ["body", "access_grants", 4, "access_id"], 7],
                ["literal_error", ["body", "access_grants", 4, "permission"], "root"],
                ["dict_type", ["body", "access_grants", 5], "x"]
            ])
        );
        // Both spellings, duplicates collapsed by core, `principal_*` winning when both are sent.
        let grants = read_model_form(
            &form(json!([
                {"access_type": "group", "access_id": "dev", "permission": "write"},
                {"principal_type": "user", "principal_id": "bob", "access_type": "group",
                 "access_id": "x", "permission": "read"}
            ])),
            &body(),
            Mode::Full,
        )
        .unwrap()
        .grants
        .unwrap();
        assert_eq!(
            grants.grants,
            vec![
                Grant::new(PrincipalKind::Group, "dev", Permission::Write),
                Grant::new(PrincipalKind::User, "bob", Permission::Read)
            ]
        );
    }

    #[test]
    fn tags_are_a_list_of_names_or_a_422() {
        let form =
            |tags: Value| json!({"id": "m", "name": "M", "params": {}, "meta": {"tags": tags}});
        for tags in [json!("a,b"), json!({"name": "a"}), json!(3)] {
            assert_eq!(
                issues_of(form(tags.clone())),
                json!([["list_type", ["body", "meta", "tags"], tags]])
            );
        }
        assert_eq!(
            issues_of(form(json!([{"name": "a"}, {"name": 1}, {}, 2, "b"]))),
            json!([
                ["string_type", ["body", "meta", "tags", 1, "name"], 1],
                ["missing", ["body", "meta", "tags", 2, "name"], {}],
                ["value_error", ["body", "meta", "tags", 3], 2]
            ])
        );
        let read = |tags: Value| read_model_form(&form(tags), &body(), Mode::Full).unwrap().meta;
        let meta = read(json!([{"name": "a", "colour": "red"}, "b"]));
        assert_eq!(
            (meta.tags, meta.extra.get("tags")),
            (vec!["a".to_owned(), "b".to_owned()], None)
        );
        assert_eq!(read(json!([])).extra.get("tags"), Some(&json!([])));
        let none = read(Value::Null);
        assert!(none.tags.is_empty() && none.extra.is_empty());
    }

    #[test]
    fn import_items_need_only_an_id() {
        let value = json!({"id": "m"});
        let loc = vec![key("body"), key("models"), Loc::Index(0)];
        let form = read_model_form(&value, &loc, Mode::Import).unwrap();
        let (_, view, _) = form.into_change(true);
        assert!(!view.contains(Field::DisplayName));
        assert!(!view.contains(Field::Grants));
        assert!(view.contains(Field::Params) && view.contains(Field::Description));
    }
}
