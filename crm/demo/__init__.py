"""Realistic, deterministic demo data (Indian retail) for trying the app and for tests."""

from crm.demo.generate import DemoData, DemoSpec, generate
from crm.demo.load import DemoReport, load_demo

__all__ = ["DemoData", "DemoReport", "DemoSpec", "generate", "load_demo"]
