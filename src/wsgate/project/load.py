"""Load a serverless.yml or a CloudFormation/SAM template as a gateway config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wsgate.config.model import GatewayConfig
from wsgate.exceptions import ConfigError
from wsgate.project.assemble import TreeBuilder
from wsgate.project.cloudformation import translate_template
from wsgate.project.detect import ConfigKind, detect_kind
from wsgate.project.notices import Notice
from wsgate.project.options import ProjectOptions
from wsgate.project.samconfig import apply_samconfig
from wsgate.project.serverless import translate_service
from wsgate.project.tables import TableSpec
from wsgate.project.yamlfile import YamlFile, read_yaml_file


__all__ = ["Project", "built_project", "load_project", "translate_project"]

PROJECT_SERVER = {"host": "127.0.0.1", "port": 8080, "tls_port": 8443}
"""The listeners of a project: ws:// on 8080 and wss:// on 8443, so that handlers that
build ``https://{domainName}/{stage}`` reach the management API."""


@dataclass(frozen=True)
class Project:
    """A project file translated: the config to serve and what it cannot honour."""

    config: GatewayConfig
    kind: ConfigKind
    notices: tuple[Notice, ...]
    imported: Path | None = None
    """The project file a wsgate.yaml's ``import:`` read, when the config is that."""
    tables: tuple[TableSpec, ...] = ()
    """The DynamoDB tables to create (read with ``create_resources``)."""
    unresolved: tuple[str, ...] = ()
    """References nothing resolves, one error line each (only with ``allow_unresolved``;
    their values stand as written)."""

    def refuse_unresolved(self) -> Project:
        """This project, if every reference resolved.

        Raises:
            ConfigError: one line per unresolved reference.
        """
        if self.unresolved:
            raise ConfigError("\n".join(self.unresolved))
        return self


def load_project(
    file: Path | YamlFile,
    options: ProjectOptions | None = None,
    *,
    allow_unresolved: bool = False,
) -> Project:
    """Translate the serverless.yml or template at ``file`` (or read already).

    Args:
        allow_unresolved: return a project whose references do not all resolve (listed
            in :attr:`Project.unresolved`), for ``wsgate check`` to show; else they are
            an error.

    Raises:
        ConfigError: the file is neither, or describes something wsgate cannot serve, or
            a reference does not resolve; one line per problem, naming the file and the
            key path.
    """
    document = file if isinstance(file, YamlFile) else read_yaml_file(file)
    builder, kind = translate_project(document, options)
    return built_project(builder, kind, builder.validate(), allow_unresolved=allow_unresolved)


def built_project(
    builder: TreeBuilder,
    kind: ConfigKind,
    config: GatewayConfig,
    *,
    imported: Path | None = None,
    allow_unresolved: bool,
) -> Project:
    """The project ``builder`` translated, its tree validated as ``config``.

    Raises:
        ConfigError: a reference does not resolve, unless ``allow_unresolved``.
    """
    project = Project(
        config=config,
        kind=kind,
        notices=tuple(builder.notices),
        imported=imported,
        unresolved=tuple(builder.unresolved),
        tables=tuple(builder.tables),
    )
    return project if allow_unresolved else project.refuse_unresolved()


def translate_project(
    document: YamlFile, options: ProjectOptions | None = None
) -> tuple[TreeBuilder, ConfigKind]:
    """The config tree the project file ``document`` gives, not validated yet (a
    wsgate.yaml that imports the file merges its own keys over it first).

    Raises:
        ConfigError: as :func:`load_project`.
    """
    options = ProjectOptions() if options is None else options
    source = document.source
    tree = document.tree()
    kind = detect_kind(tree)
    if kind == "wsgate" or not isinstance(tree, dict):
        raise ConfigError(
            f"{source}: neither a serverless.yml (service: and functions:) nor a "
            "CloudFormation or SAM template (Resources:)"
        )
    builder = TreeBuilder(source)
    builder.set(("server",), dict(PROJECT_SERVER), "(wsgate's defaults for a project)")
    base_dir = document.path.absolute().parent
    builder.set(("handlers",), {"path": str(base_dir)}, "(the project's folder)")
    if kind == "serverless":
        _refuse(options, source, "a serverless.yml", config_env="--config-env", api="--api")
        translate_service(tree, builder, base_dir, options)
    else:
        _refuse(options, source, "a template", params="--param", variables="--var")
        translate_template(tree, builder, base_dir, apply_samconfig(base_dir, options))
    return builder, kind


def _refuse(options: ProjectOptions, source: str, kind: str, **flags: str) -> None:
    """A flag given for the other kind of project file is an error, not ignored."""
    for name, flag in flags.items():
        if getattr(options, name):
            raise ConfigError(f"{flag}: {source} is {kind}, which does not take it")
