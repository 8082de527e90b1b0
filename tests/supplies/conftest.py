"""Fixtures of the relief supplies tests."""

from __future__ import annotations

import pytest

from tests.residents import conftest as registry
from tests.residents.conftest import Office
from tests.supplies.supply_office import SupplyOffice, supply_office

#: the registry's office: a tenant with signed-in staff, auditor and shelter
office = registry.office


@pytest.fixture
def supplies(office: Office) -> SupplyOffice:
    return supply_office(office)
