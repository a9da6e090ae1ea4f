"""Signed HTTP and the three DJI APIs (TerraAPI v2, FlightHub 2 open modeling, Cloud API).

No boto3, no geo libraries and no widgets are imported from here.
"""
