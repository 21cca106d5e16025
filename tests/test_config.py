from pathlib import Path

import pytest

import monitoring_layer
from monitoring_layer import ConfigError, config
from monitoring_layer.config import resolve_settings


def test_defaults_are_the_spec_retention():
    s = resolve_settings({}, {})
    assert s.home == Path("/tmp/monitoring")
    assert (s.metrics_retention_days, s.metrics_max_points) == (7, 10_000)
    assert (s.logs_retention_days, s.logs_max_records) == (30, 1_000)
    assert (s.traces_retention_days, s.traces_max_traces) == (7, 10_000)
    assert s.prometheus_port is None and not s.sdk_disabled and not s.strict


def test_environment_beats_default_and_argument_beats_environment():
    env = {"MONITORING_HOME": "/srv/mon", "MONITORING_LOGS_MAX_RECORDS": "50", "OTEL_SERVICE_NAME": "etl"}
    s = resolve_settings(env, {})
    assert s.home == Path("/srv/mon") and s.logs_max_records == 50 and s.service_name == "etl"
    s = resolve_settings(env, {"logs_max_records": 7, "home": "/data/mon"})
    assert s.home == Path("/data/mon") and s.logs_max_records == 7 and s.service_name == "etl"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MONITORING_EXPORT_INTERVAL": "soon"}, "MONITORING_EXPORT_INTERVAL='soon'"),
        ({"MONITORING_TRACES_RETENTION_DAYS": "-1"}, "MONITORING_TRACES_RETENTION_DAYS='-1'"),
        ({"MONITORING_METRICS_MAX_POINTS": "0"}, "MONITORING_METRICS_MAX_POINTS='0'"),
        ({"OTEL_SDK_DISABLED": "maybe"}, "OTEL_SDK_DISABLED='maybe'"),
        ({"OTEL_EXPORTER_PROMETHEUS_PORT": "70000"}, "OTEL_EXPORTER_PROMETHEUS_PORT='70000'"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "team"}, "OTEL_RESOURCE_ATTRIBUTES='team'"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"}, "OTEL_EXPORTER_OTLP_PROTOCOL='carrier-pigeon'"),
    ],
)
def test_bad_environment_value_names_variable_and_value(env, named):
    with pytest.raises(ConfigError) as info:
        resolve_settings(env, {})
    assert named in str(info.value)
    assert isinstance(info.value, ValueError)


def test_bad_argument_names_argument():
    with pytest.raises(ConfigError, match="argument logs_retention_days=-3"):
        resolve_settings({}, {"logs_retention_days": -3})
    with pytest.raises(ConfigError, match="argument export_interval_s=True"):
        resolve_settings({}, {"export_interval_s": True})


def test_unknown_option_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match="unknown setting 'homedir'.*home"):
        monitoring_layer.configure(homedir="/tmp/x")


def test_resource_attributes_parse():
    s = resolve_settings({"OTEL_RESOURCE_ATTRIBUTES": "team=data, env=prod"}, {})
    assert s.resource_attributes == {"team": "data", "env": "prod"}


def test_otlp_enabled_per_signal():
    assert not resolve_settings({}, {}).otlp_enabled("traces")
    s = resolve_settings({"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://127.0.0.1:4318/v1/logs"}, {})
    assert s.otlp_enabled("logs") and not s.otlp_enabled("traces")
    assert resolve_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, {}).otlp_enabled("metrics")


def test_configure_is_idempotent_and_frozen_once_started(home):
    first = monitoring_layer.configure(logs_max_records=10)
    assert monitoring_layer.configure(logs_max_records=10) == first
    config._freeze("test")
    assert monitoring_layer.configure(logs_max_records=10) == first  # same values: a no-op
    with pytest.raises(ConfigError, match="cannot change logs_max_records.*already started"):
        monitoring_layer.configure(logs_max_records=11)
    assert monitoring_layer.get_settings().logs_max_records == 10


def test_get_settings_is_resolved_once(monkeypatch):
    first = monitoring_layer.get_settings()
    monkeypatch.setenv("MONITORING_LOGS_MAX_RECORDS", "3")
    assert monitoring_layer.get_settings() is first


def test_readme_documents_every_setting():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert config.settings_table_markdown() in readme, (
        "README's settings table is out of date; paste config.settings_table_markdown()")


def test_every_monitoring_variable_the_package_reads_is_a_setting():
    # A variable read outside OPTIONS would be missing from the README table and from configure().
    import re

    root = Path(__file__).parent.parent
    named = {match for path in [*(root / "src" / "monitoring_layer").rglob("*.py"), *(root / "exporters").rglob("*.py"),
                                *(root / "instrumentors").rglob("*.py")]
             for match in re.findall(r"[\"'](MONITORING_[A-Z0-9_]+)[\"']", path.read_text(encoding="utf-8"))}
    assert "MONITORING_HOME" in named  # the scan sees the package
    assert named - {option.env for option in config.OPTIONS} == set()


def test_dashboard_token_setting():
    assert resolve_settings({}).dashboard_token is None
    assert resolve_settings({"MONITORING_DASHBOARD_TOKEN": ""}).dashboard_token is None
    settings = resolve_settings({"MONITORING_DASHBOARD_TOKEN": " s3cr3t-tok "})
    assert settings.dashboard_token == " s3cr3t-tok "  # compared byte for byte: kept as given
    assert "s3cr3t" not in repr(settings)
    assert resolve_settings({"MONITORING_DASHBOARD_TOKEN": "env"}, {"dashboard_token": "arg"}).dashboard_token == "arg"
    assert config.resolve_setting("dashboard_token", {"MONITORING_DASHBOARD_TOKEN": "x"}) == "x"
    with pytest.raises(ConfigError, match="MONITORING_DASHBOARD_TOKEN"):
        resolve_settings({"MONITORING_DASHBOARD_TOKEN": "   "})
    with pytest.raises(ConfigError, match="dashboard_token"):
        resolve_settings({}, {"dashboard_token": 42})


def test_otel_metric_export_interval_is_honoured_in_milliseconds_and_ours_wins():
    assert config.resolve_settings({"OTEL_METRIC_EXPORT_INTERVAL": "2500"}).export_interval_s == 2.5
    both = {"OTEL_METRIC_EXPORT_INTERVAL": "2500", "MONITORING_EXPORT_INTERVAL": "7"}
    assert config.resolve_settings(both).export_interval_s == 7.0
    with pytest.raises(ConfigError, match="OTEL_METRIC_EXPORT_INTERVAL='abc'"):
        config.resolve_settings({"OTEL_METRIC_EXPORT_INTERVAL": "abc"})
    with pytest.raises(ConfigError, match="OTEL_METRIC_EXPORT_INTERVAL='0'"):
        config.resolve_settings({"OTEL_METRIC_EXPORT_INTERVAL": "0"})


@pytest.mark.parametrize(("variable", "value"), [
    ("MONITORING_EXPORT_INTERVAL", "1e10"),   # past threading.TIMEOUT_MAX: the writer threads died of it
    ("MONITORING_EXPORT_INTERVAL", "1e-9"),   # OTel's reader timed every collection out
    ("MONITORING_METRICS_MAX_POINTS", str(2**63)),  # a deque's maxlen: the first increment raised
    ("MONITORING_TRACES_MAX_TRACES", str(10**20)),
])
def test_a_value_beyond_what_the_pipeline_can_use_is_refused_at_setup(variable, value):
    with pytest.raises(ConfigError, match=variable):
        resolve_settings({variable: value})


def test_the_bounds_themselves_are_accepted():
    assert resolve_settings({"MONITORING_EXPORT_INTERVAL": "0.05"}).export_interval_s == 0.05
    assert resolve_settings({}, {"export_interval_s": 365 * 86_400}).export_interval_s == 365 * 86_400
    assert resolve_settings({"MONITORING_METRICS_MAX_POINTS": str(config.MAX_COUNT)}).metrics_max_points == 2**31 - 1
    with pytest.raises(ConfigError, match="metrics_max_points"):
        resolve_settings({}, {"metrics_max_points": config.MAX_COUNT + 1})
    with pytest.raises(ConfigError, match="OTEL_METRIC_EXPORT_INTERVAL"):
        resolve_settings({"OTEL_METRIC_EXPORT_INTERVAL": "1"})  # 1 ms
