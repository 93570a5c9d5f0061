"""Settings grouped by concern, read from ``PLANMAP_*`` environment variables or ``.env``, built once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from geo.complexity import ReadLimits
from geo.storage.base import FeatureStore
from geo.zipsafe import ZipLimits
from layers.alert_send import Retry, SmtpConfig
from layers.alerts import AlertConfig
from layers.sessions import SessionPolicy, ThrottlePolicy
from layers.store import open_plan_store

_CONFIG = SettingsConfigDict(env_prefix="PLANMAP_", env_file=".env", extra="ignore")


class StoreSettings(BaseSettings):
    """Where the data lives: a GeoPackage file (default) or a PostGIS database."""

    model_config = _CONFIG

    data_dir: Path = Field(Path("data"), description="directory for the GeoPackage, rasters and caches")
    gpkg_path: Path | None = Field(None, description="GeoPackage file; default <data_dir>/planmap.gpkg")
    database_url: str | None = Field(None, description="PostGIS DSN (postgresql://...); overrides the GeoPackage")
    database_schema: str = Field("planmap", description="PostgreSQL schema holding planmap's tables (PostGIS only)")
    database_pool_size: int = Field(4, ge=1, description="most database connections per worker (PostGIS only)")
    database_timeout_s: float = Field(
        10.0, gt=0, le=120, description="longest wait for a database connection before a 503 (PostGIS only)"
    )
    database_replica_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="streaming replicas of the database that answer reads, comma-separated DSNs (PostGIS only)",
    )
    database_replica_wait_s: float = Field(
        0.5,
        ge=0,
        le=10,
        description="longest wait for a replica to replay a client's last write before its read goes to the primary",
    )
    database_version_ttl_s: float = Field(
        0.1,
        ge=0,
        le=5,
        description="how long a worker reuses a layer's data version (cache keys, ETags) before reading it again; "
        "a client that wrote reads exactly (PostGIS without replicas only; 0: every request)",
    )
    upload_dir: Path | None = Field(
        None, description="where uploads are kept while served; default <data_dir>/.uploads"
    )
    report_dir: Path | None = Field(None, description="where archived reports are kept; default <data_dir>/reports")
    upload_max_age_s: float = Field(
        3600.0, gt=0, description="uploads left older than this (by a killed worker) are removed at start-up"
    )

    @field_validator("database_replica_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        """Read the replicas from a comma-separated string (the environment's form) as well as from a list."""
        return [u.strip() for u in value.split(",") if u.strip()] if isinstance(value, str) else value

    @property
    def gpkg(self) -> Path:
        """Return the GeoPackage path."""
        return self.gpkg_path or self.data_dir / "planmap.gpkg"

    @property
    def uploads(self) -> Path:
        """Return the directory uploads are kept in while their request runs."""
        return self.upload_dir or self.data_dir / ".uploads"

    @property
    def reports(self) -> Path:
        """Return the directory archived report files are kept in."""
        return self.report_dir or self.data_dir / "reports"

    @property
    def url(self) -> str:
        """Return what the store is opened from: the DSN when set, else the GeoPackage path."""
        return self.database_url or str(self.gpkg)

    def open(self) -> FeatureStore:
        """Open the configured store (PostGIS schema and pool size applied when it is a database)."""
        return open_plan_store(
            self.url,
            schema=self.database_schema,
            pool_size=self.database_pool_size,
            timeout=self.database_timeout_s,
            replicas=self.database_replica_urls,
            replica_wait_s=self.database_replica_wait_s,
            version_ttl_s=self.database_version_ttl_s,
        )


class ApiSettings(BaseSettings):
    """HTTP behaviour: limits, CORS, public access."""

    model_config = _CONFIG

    title: str = "planmap"
    default_limit: int = Field(100, ge=1)
    max_limit: int = Field(10_000, ge=1)
    cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    public_reads: bool = Field(True, description="serve reads without a token; when false every read needs one")
    max_photo_bytes: int = Field(15_000_000, ge=1, description="largest progress-report photo accepted, in bytes")
    photo_max_px: int = Field(1600, ge=64, description="stored report photos are downscaled to fit this many pixels")
    photo_max_age_days: int = Field(30, ge=0, description="flag a report whose photo was taken longer before it")
    report_max_distance_m: float = Field(500.0, ge=0, description="flag a report made farther from its project")
    position_max_accuracy_m: float = Field(100.0, gt=0, description="flag a report whose position is coarser")
    import_max_bytes: int = Field(200 * 1024**2, ge=1, description="largest data file accepted by an import, in bytes")
    import_max_unpacked_bytes: int = Field(1024**3, ge=1, description="largest total unpacked size of an imported zip")
    import_max_zip_members: int = Field(200, ge=1, description="most members an imported zip may hold")
    import_max_features: int = Field(200_000, ge=1, description="most features one import may bring")
    import_max_vertices: int = Field(2_000_000, ge=1, description="most vertices one import may bring, in all")
    import_max_feature_vertices: int = Field(100_000, ge=1, description="most vertices of one imported feature")
    import_max_zip_entries: int = Field(1000, ge=1, description="most central-directory entries of an imported zip")
    import_max_zip_ratio: float = Field(100.0, gt=1, description="most unpacked/packed size ratio of an imported zip")
    max_url_bytes: int = Field(8192, ge=256, description="longest path plus query string accepted (414 beyond)")
    max_body_bytes: int = Field(1024**2, ge=1, description="largest non-upload request body, in bytes (413 beyond)")
    header_timeout_s: float = Field(
        10.0, gt=0, le=300, description="seconds a client has to send a request line and headers (`planmap serve`)"
    )

    @property
    def zip_limits(self) -> ZipLimits:
        """Return the limits imported zip archives are checked against."""
        return ZipLimits(
            max_members=self.import_max_zip_members,
            max_unpacked_bytes=self.import_max_unpacked_bytes,
            max_ratio=self.import_max_zip_ratio,
            max_entries=self.import_max_zip_entries,
        )

    @property
    def read_limits(self) -> ReadLimits:
        """Return the limits on the geometry an imported file may bring."""
        return ReadLimits(self.import_max_features, self.import_max_feature_vertices, self.import_max_vertices)

    @property
    def max_upload_bytes(self) -> int:
        """Return the largest multipart upload body: the larger file limit plus 1 MiB for the form's other parts."""
        return max(self.import_max_bytes, self.max_photo_bytes) + 1024**2


class TileSettings(BaseSettings):
    """Vector and raster tile generation."""

    model_config = _CONFIG

    tile_max_features: int = Field(20_000, ge=1)
    tile_buffer: int = Field(64, ge=0)
    tile_cache_items: int = Field(4096, ge=0)
    tile_builds: int = Field(
        2,
        ge=1,
        le=64,
        description="tiles one worker builds at once in threads (CPU work: about the cores it uses); others wait",
    )
    gdal_cachemax: int = Field(256, ge=1, description="GDAL block cache for raster tiles, MiB (per process)")


class MapSettings(BaseSettings):
    """The interactive maps: keys for optional online base maps (the default basemap is planmap's own)."""

    model_config = _CONFIG

    tianditu_key: str | None = Field(None, description="Tianditu `tk` key; enables the Tianditu base map option")
    map_approval_no: str = Field("", description="审图号 printed on maps, e.g. 湘S（2025）001号; empty: none printed")
    map_disclaimer: str = Field(
        "本图仅供工作参考，行政界线不作为权属争议的依据", description="disclaimer line printed under every printed map"
    )
    map_source: str = Field("", description="data source line of printed maps (default: planmap and the boundaries)")
    print_dpi: int = Field(150, ge=72, le=300, description="resolution of the map image in printed maps and reports")


class SecuritySettings(BaseSettings):
    """Accounts and browser sessions: expiry, sign-in throttling, the proxy in front, public project pages."""

    model_config = _CONFIG

    session_idle_s: float = Field(30 * 60, gt=0, description="a browser session ends after this many idle seconds")
    session_absolute_s: float = Field(12 * 3600, gt=0, description="a browser session ends this long after sign-in")
    trust_proxy: bool = Field(
        False,
        description="the server runs behind a reverse proxy: trust its X-Forwarded-Proto and X-Forwarded-For "
        "(never enable when clients reach the server directly: they could claim HTTPS or any address)",
    )
    login_free_attempts: int = Field(5, ge=1, description="failed sign-ins per account or address before locking")
    login_base_delay_s: float = Field(2.0, gt=0, description="first lock after the free attempts; doubles per failure")
    login_max_lock_s: float = Field(15 * 60, gt=0, description="longest lock of an account or address")
    public_pages: bool = Field(True, description="serve the public project pages /p/{layer}/{id} and their QR codes")
    public_base_url: str | None = Field(
        None, description="URL the QR codes point to (e.g. https://planmap.xiangtan.gov.cn); default: the request's"
    )

    @property
    def sessions(self) -> SessionPolicy:
        """Return the session expiry policy."""
        return SessionPolicy(self.session_idle_s, self.session_absolute_s)

    @property
    def throttle(self) -> ThrottlePolicy:
        """Return the sign-in throttling policy."""
        return ThrottlePolicy(self.login_free_attempts, self.login_base_delay_s, self.login_max_lock_s)


class AlertSettings(BaseSettings):
    """Alerts: the SMTP server e-mail goes through, retries, the review wait, evaluation after writes."""

    model_config = _CONFIG

    smtp_host: str = Field("", description="SMTP server for e-mail alerts; empty: e-mail destinations fail")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port")
    smtp_from: str = Field("planmap@localhost", description="sender address of e-mail alerts")
    smtp_user: str | None = Field(None, description="SMTP login, if the server needs one")
    smtp_password: str | None = Field(None, description="SMTP password")
    smtp_starttls: bool = Field(False, description="upgrade the SMTP connection with STARTTLS")
    alert_attempts: int = Field(4, ge=1, le=10, description="tries per delivery (1 + retries)")
    alert_first_delay_s: float = Field(2.0, ge=0, le=300, description="first retry delay; doubles after each failure")
    alert_review_wait_days: int = Field(3, ge=0, le=365, description="alert when a report waits longer for review")
    alerts_on_write: bool = Field(True, description="check a project's alerts after each report or approval")

    def config(self) -> AlertConfig:
        """Return the alert configuration ``layers.alerts`` takes."""
        smtp = SmtpConfig(
            self.smtp_host, self.smtp_port, self.smtp_from, self.smtp_user, self.smtp_password, self.smtp_starttls
        )
        retry = Retry(attempts=self.alert_attempts, first_delay_s=self.alert_first_delay_s)
        return AlertConfig(smtp=smtp, retry=retry, wait_days=self.alert_review_wait_days)


class Settings(BaseModel):
    """All of planmap's settings; ``create_app`` builds one and passes values down."""

    store: StoreSettings = Field(default_factory=StoreSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    tiles: TileSettings = Field(default_factory=TileSettings)
    maps: MapSettings = Field(default_factory=MapSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
