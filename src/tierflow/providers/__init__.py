"""Provider adapters, one module per wire protocol; see :mod:`tierflow.providers.base`."""

from tierflow.providers.base import (
    Provider,
    ProviderSettings,
    Timeouts,
    TimeoutSettings,
    create_provider,
    register_provider,
)

__all__ = ["Provider", "ProviderSettings", "Timeouts", "TimeoutSettings", "create_provider",
           "register_provider"]
