"""terranb.viz"""
