"""Flow files: the JSON format a canvas saves, its JSON Schema, lowering to IR, the IR / YAML /
DSL back ends, import of YAML manifests, and the allow list for the code a flow names."""

from tierflow.flowfile.compile import FORMATS, DSLViewWarning, compile_file, compile_flow, write_atomic
from tierflow.flowfile.conditions import ConditionError, lower_condition
from tierflow.flowfile.diagnostics import load_flow, parse_flow_data, parse_flow_text, role_problem
from tierflow.flowfile.emit_dsl import dsl_omissions, emit_dsl
from tierflow.flowfile.emit_ir import emit_ir, ir_to_json
from tierflow.flowfile.emit_yaml import emit_yaml, manifest_from_flow
from tierflow.flowfile.format import FLOW_NODE_KINDS, FLOW_SCHEMA_VERSION, FlowEdge, FlowFile, flow_json_schema
from tierflow.flowfile.importer import import_manifest, import_manifest_text
from tierflow.flowfile.lower import lower_flow
from tierflow.flowfile.trust import ALLOW_ALL, CodePolicy, bind_callables

__all__ = [
    "FLOW_SCHEMA_VERSION", "FLOW_NODE_KINDS", "FlowFile", "FlowEdge", "flow_json_schema",
    "load_flow", "parse_flow_text", "parse_flow_data", "role_problem", "lower_flow",
    "ConditionError", "lower_condition", "emit_ir", "ir_to_json", "emit_yaml", "manifest_from_flow",
    "emit_dsl", "import_manifest", "import_manifest_text", "FORMATS", "compile_flow", "compile_file",
    "write_atomic", "DSLViewWarning", "dsl_omissions", "ALLOW_ALL", "CodePolicy", "bind_callables",
]
