"""The ``config`` property of the components built for an engine configuration."""

__all__ = ["Configured"]


class Configured:
    """Mixin for a component built for an :class:`~tinyeie.contract.config.EngineConfig`
    (kept as ``self._config``): gives it as the read-only ``config``."""

    @property
    def config(self):
        return self._config
