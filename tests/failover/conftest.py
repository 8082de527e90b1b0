from tests.failover.coordination.conftest import etcd_cluster  # noqa: F401 - the real etcd fixture
